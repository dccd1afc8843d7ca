import { ApiError } from "./client";

/**
 * The API's validation messages by form field: a 422's ``errors`` name the body field
 * (``loc: ["body", "ttl_seconds"]``); typed errors carry ``field`` / ``setting``, a transformer
 * error belongs to the transformer, a conflict on create to the name. What cannot be placed
 * next to a field comes back under ``""``.
 */
export function fieldErrors(error: unknown, fields: readonly string[]): Record<string, string> {
  if (!(error instanceof ApiError)) return { "": error instanceof Error ? error.message : String(error) };
  const problem = error.problem;
  const out: Record<string, string> = {};
  const place = (field: string | undefined, text: string) => {
    const key = field && fields.includes(field) ? field : "";
    out[key] = out[key] ? `${out[key]}; ${text}` : text;
  };
  if (problem.errors?.length) {
    for (const e of problem.errors) {
      const loc = e.loc.filter((p) => p !== "body").map(String);
      place(loc[0], loc.length > 1 ? `${loc.slice(1).join(".")}: ${e.msg}` : e.msg);
    }
    return out;
  }
  const named = typeof problem.field === "string" ? problem.field : undefined;
  if (named) place(named, problem.detail);
  else if (problem.type.includes("Transformer") || problem.type.includes("NotFitted")) place("transformer", problem.detail);
  else if (problem.status === 409 && problem.type.includes("AlreadyExists")) place("name", problem.detail);
  else if (problem.type.includes("Version")) place("version", problem.detail);
  else place(undefined, problem.detail);
  return out;
}
