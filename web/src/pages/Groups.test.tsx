import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ADMIN, VIEWER, renderPage, serve } from "../test/render";
import Groups from "./Groups";

const group = { name: "spend", description: "money", entity: "customer", features: ["amount"], owner: "" };

function store(me: object) {
  const sent: { method: string; path: string; body: unknown }[] = [];
  const record = (method: string) => async (url: URL, request: Request) => {
    sent.push({ method, path: url.pathname, body: request.body ? await request.clone().json() : null });
    return group;
  };
  serve({
    "GET /api/v1/auth/me": () => me,
    "GET /api/v1/groups": () => [group],
    "GET /api/v1/entities": () => [{ name: "customer", join_key: "customer_id", value_type: "string" }],
    "PATCH /api/v1/groups/spend": record("PATCH"),
    "POST /api/v1/groups/spend/features/age": record("POST"),
  });
  return sent;
}

afterEach(() => vi.unstubAllGlobals());

test("an editor edits a group and adds a feature", async () => {
  const sent = store(ADMIN);
  renderPage(<Groups />, "/groups");
  await userEvent.click(await screen.findByRole("button", { name: "Edit spend" }));
  const description = screen.getByRole("textbox", { name: "Description of spend" });
  await userEvent.clear(description);
  await userEvent.type(description, "what they spend");
  await userEvent.click(screen.getByRole("button", { name: "Save" }));
  await waitFor(() => expect(sent).toHaveLength(1));
  expect(sent[0]).toEqual({
    method: "PATCH",
    path: "/api/v1/groups/spend",
    body: { description: "what they spend", owner: "" },
  });
  await userEvent.type(screen.getByRole("textbox", { name: "Add a feature to spend" }), "age");
  await userEvent.click(screen.getByRole("button", { name: "Add" }));
  await waitFor(() => expect(sent.map((s) => s.path)).toContain("/api/v1/groups/spend/features/age"));
});

test("a viewer sees the groups without edit controls", async () => {
  store(VIEWER);
  renderPage(<Groups />, "/groups");
  expect(await screen.findByRole("link", { name: "amount" })).toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Edit spend" })).not.toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Create group" })).not.toBeInTheDocument();
  expect(screen.queryByRole("button", { name: "Add" })).not.toBeInTheDocument();
});
