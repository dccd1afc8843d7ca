// The first API calls of the overview and the features table, shared by the pages and by
// main.tsx, which starts them for the page being opened before the session is checked.
import { api, ok } from "./client";
import { early, startEarly } from "./early";

export const FEATURE_FILTERS = ["group", "entity", "tag", "type", "owner"] as const;
export type FeatureFilter = (typeof FEATURE_FILTERS)[number];

export interface FeaturesQuery {
  q?: string;
  group?: string;
  entity?: string;
  tag?: string;
  type?: "numerical" | "categorical";
  owner?: string;
  limit: number;
  offset: number;
}

/** The features list's query for the table's URL state (search text, filters, page). */
export function featuresQuery(params: URLSearchParams, q: string): FeaturesQuery {
  const limit = Number(params.get("limit") ?? 25);
  const value = (f: FeatureFilter) => params.get(f) || undefined;
  return {
    q: q || undefined,
    group: value("group"),
    entity: value("entity"),
    tag: value("tag"),
    type: value("type") as FeaturesQuery["type"],
    owner: value("owner"),
    limit,
    offset: Number(params.get("page") ?? 0) * limit,
  };
}

const loadOverview = () => ok(api.GET("/api/v1/overview"));
const loadFeatures = (query: FeaturesQuery) => ok(api.GET("/api/v1/features", { params: { query } }));
const loadChoices = async () => {
  const [groups, entities] = await Promise.all([ok(api.GET("/api/v1/groups")), ok(api.GET("/api/v1/entities"))]);
  return { groups, entities };
};
const featuresKey = (query: FeaturesQuery) => `features ${JSON.stringify(query)}`;

export const overview = () => early("overview", loadOverview);
export const featurePage = (query: FeaturesQuery) => early(featuresKey(query), () => loadFeatures(query));
export const featureChoices = () => early("choices", loadChoices);

/** Starts the first calls of the page at ``location`` (nothing for the other pages). */
export function startPageCalls(location: Location): void {
  if (location.pathname === "/") startEarly("overview", loadOverview);
  else if (location.pathname === "/features" || location.pathname === "/features/") {
    const params = new URLSearchParams(location.search);
    const query = featuresQuery(params, params.get("q") ?? "");
    startEarly(featuresKey(query), () => loadFeatures(query));
    startEarly("choices", loadChoices);
  }
}
