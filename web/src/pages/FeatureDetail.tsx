import EditIcon from "@mui/icons-material/Edit";
import { Box, Breadcrumbs, Button, Stack, Tab, Tabs, Typography } from "@mui/material";
import { useState } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { api, ok } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { ConfirmDelete } from "../components/ConfirmDelete";
import { Async } from "../components/states";
import { useApi } from "../hooks/useApi";
import { LineagePanel } from "./feature/LineagePanel";
import { LookupPanel } from "./feature/LookupPanel";
import { Freshness, Metadata } from "./feature/Summary";
import { TransformerPanel } from "./feature/TransformerPanel";
import { ValuesPanel } from "./feature/ValuesPanel";
import { VersionsPanel } from "./feature/VersionsPanel";

const TABS = ["overview", "values", "versions", "transformer", "lineage", "lookup"] as const;
const LABELS: Record<(typeof TABS)[number], string> = {
  overview: "Overview",
  values: "Values & statistics",
  versions: "Versions",
  transformer: "Transformer",
  lineage: "Lineage",
  lookup: "Online lookup",
};

export default function FeatureDetail() {
  const name = useParams().name!;
  const { canEdit, isAdmin } = useAuth();
  const navigate = useNavigate();
  const [params, setParams] = useSearchParams();
  const tab = (params.get("tab") as (typeof TABS)[number]) ?? "overview";
  const [tick, setTick] = useState(0);
  const refresh = () => setTick((t) => t + 1);
  const state = useApi(async () => {
    const path = { params: { path: { name } } };
    const [feature, versions, stats] = await Promise.all([
      ok(api.GET("/api/v1/features/{name}", path)),
      ok(api.GET("/api/v1/features/{name}/versions", path)),
      ok(api.GET("/api/v1/features/{name}/statistics", path)),
    ]);
    return { feature, versions, stats };
  }, [name, tick]);

  return (
    <Box>
      <Breadcrumbs aria-label="Breadcrumb" sx={{ mb: 1 }}>
        <Link to="/features">Features</Link>
        <Typography color="text.primary">{name}</Typography>
      </Breadcrumbs>
      <Async state={state} label="Loading the feature">
        {({ feature, versions, stats }) => {
          const current = versions.find((v) => v.version === feature.current_version) ?? versions.at(-1)!;
          return (
            <Stack spacing={2}>
              <Stack direction="row" sx={{ justifyContent: "space-between", alignItems: "flex-start" }}>
                <Box>
                  <Typography variant="h4" component="h1">
                    {feature.name}{" "}
                    <Typography component="span" color="text.secondary" variant="h6">
                      v{feature.current_version}
                    </Typography>
                  </Typography>
                  <Typography color="text.secondary">{feature.description || "No description."}</Typography>
                </Box>
                <Stack direction="row" spacing={1}>
                  {canEdit && (
                    <Button variant="outlined" startIcon={<EditIcon />} component={Link} to={`/features/${encodeURIComponent(name)}/edit`}>
                      Edit
                    </Button>
                  )}
                  {isAdmin && (
                    <ConfirmDelete
                      what={`feature ${name}`}
                      consequences="Its versions and all its values (offline and online) are deleted too; a feature others depend on is refused. This cannot be undone."
                      onDelete={async () => {
                        await ok(api.DELETE("/api/v1/features/{name}", { params: { path: { name } } }));
                        navigate("/features", { replace: true });
                      }}
                    />
                  )}
                </Stack>
              </Stack>
              <Tabs
                value={tab}
                onChange={(_, t: string) => setParams({ tab: t }, { replace: true })}
                variant="scrollable"
                aria-label="Feature sections"
              >
                {TABS.map((t) => (
                  <Tab key={t} value={t} label={LABELS[t]} id={`tab-${t}`} aria-controls={`panel-${t}`} />
                ))}
              </Tabs>
              <Box role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`}>
                {tab === "overview" && (
                  <Stack spacing={2}>
                    <Freshness feature={feature} stats={stats} />
                    <Metadata feature={feature} />
                  </Stack>
                )}
                {tab === "values" && <ValuesPanel feature={feature} stats={stats} />}
                {tab === "versions" && <VersionsPanel feature={feature} versions={versions} onChanged={refresh} />}
                {tab === "transformer" && <TransformerPanel version={current} onChanged={refresh} />}
                {tab === "lineage" && <LineagePanel name={name} />}
                {tab === "lookup" && <LookupPanel feature={feature} onIngested={refresh} />}
              </Box>
            </Stack>
          );
        }}
      </Async>
    </Box>
  );
}
