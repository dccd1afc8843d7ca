// The typed API client: openapi-fetch over the generated schema, with the session's bearer
// token added to each request and a silent refresh when the access token has expired.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type Feature = Schemas["Feature"];
export type FeatureVersion = Schemas["FeatureVersion"];
export type FeatureGroup = Schemas["FeatureGroup"];
export type Entity = Schemas["Entity"];
export type Role = Schemas["Role"];

/** RFC 9457 problem details, as every API error is. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { loc: (string | number)[]; msg: string; type: string }[];
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

/** Where the session keeps its tokens; ``auth/session.ts`` implements it. */
export interface TokenSource {
  accessToken(): string | null;
  /** Gets a new access token after a 401; false when the session cannot be renewed. */
  renew(): Promise<boolean>;
}

let tokens: TokenSource | null = null;

export function setTokenSource(source: TokenSource | null): void {
  tokens = source;
}

async function authFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const send = (request: Request): Promise<Response> => {
    const token = tokens?.accessToken();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return fetch(request);
  };
  const response = await send(input);
  if (response.status !== 401 || !tokens?.accessToken()) return response;
  return (await tokens.renew()) ? send(retry) : response;
}

export const api = createClient<paths>({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin,
  fetch: authFetch,
});

function asProblem(error: unknown, status: number): Problem {
  if (error && typeof error === "object" && "detail" in error) return error as Problem;
  return { type: "about:blank", title: "Error", status, detail: String(error ?? "request failed") };
}

/** The data of an openapi-fetch answer, or an ApiError with the problem details. */
export async function ok<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await pending;
  if (error !== undefined || !response.ok) throw new ApiError(asProblem(error, response.status));
  return data as T;
}

/** The message of an error for a person. */
export function message(error: unknown): string {
  if (error instanceof ApiError) return error.problem.detail || error.problem.title;
  if (error instanceof Error) return error.message;
  return String(error);
}
