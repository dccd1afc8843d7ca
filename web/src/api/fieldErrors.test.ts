import { ApiError } from "./client";
import { fieldErrors } from "./fieldErrors";

const FIELDS = ["name", "ttl_seconds", "transformer", "version"];

test("a 422 names each body field", () => {
  const error = new ApiError({
    type: "urn:fstore:error:RequestValidationError",
    title: "Invalid request",
    status: 422,
    detail: "body.name: bad",
    errors: [
      { loc: ["body", "name"], msg: "String should match pattern", type: "string_pattern_mismatch" },
      { loc: ["body", "ttl_seconds"], msg: "Input should be greater than 0", type: "greater_than" },
      { loc: ["body", "transformer", "kind"], msg: "Input should be 'standard_scaler'", type: "enum" },
    ],
  });
  expect(fieldErrors(error, FIELDS)).toEqual({
    name: "String should match pattern",
    ttl_seconds: "Input should be greater than 0",
    transformer: "kind: Input should be 'standard_scaler'",
  });
});

test("typed errors go to their field, the rest to the form", () => {
  const problem = (type: string, status = 422) =>
    new ApiError({ type: `urn:fstore:error:${type}`, title: "t", status, detail: `${type} detail` });
  expect(fieldErrors(problem("TransformerError"), FIELDS)).toEqual({ transformer: "TransformerError detail" });
  expect(fieldErrors(problem("AlreadyExistsError", 409), FIELDS)).toEqual({ name: "AlreadyExistsError detail" });
  expect(fieldErrors(problem("VersionConflictError", 409), FIELDS)).toEqual({ version: "VersionConflictError detail" });
  expect(fieldErrors(problem("NotFoundError", 404), FIELDS)).toEqual({ "": "NotFoundError detail" });
  expect(fieldErrors(new Error("offline"), FIELDS)).toEqual({ "": "offline" });
});
