import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { ADMIN, VIEWER, renderPage, serve } from "../test/render";
import Features from "./Features";

const feature = (name: string) => ({
  name,
  entity: "customer",
  type: "numerical",
  tags: ["core"],
  owner: "ana",
  current_version: "1.0.0",
});

function store(me: object, total: number) {
  return serve({
    "GET /api/v1/auth/me": () => me,
    "GET /api/v1/groups": () => [],
    "GET /api/v1/entities": () => [{ name: "customer", join_key: "customer_id" }],
    "GET /api/v1/features": (url) => {
      const q = url.searchParams.get("q") ?? "";
      const names = Array.from({ length: total }, (_, i) => `f_${String(i).padStart(3, "0")}`).filter((n) => n.includes(q));
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const limit = Number(url.searchParams.get("limit") ?? 100);
      return { items: names.slice(offset, offset + limit).map(feature), total: names.length, limit, offset };
    },
  });
}

afterEach(() => vi.unstubAllGlobals());

test("pages and searches on the server", async () => {
  const { calls } = store(ADMIN, 60);
  renderPage(<Features />, "/features");
  expect(await screen.findByRole("link", { name: "f_000" })).toBeInTheDocument();
  expect(screen.getByText("1–25 of 60")).toBeInTheDocument();
  await userEvent.click(screen.getByRole("button", { name: /next page/i }));
  expect(await screen.findByRole("link", { name: "f_025" })).toBeInTheDocument();
  await userEvent.type(screen.getByRole("searchbox", { name: "Search by name" }), "f_05");
  await waitFor(() => expect(screen.getByText("1–10 of 10")).toBeInTheDocument(), { timeout: 10000 });
  const searched = calls.filter((u) => u.pathname === "/api/v1/features").at(-1)!;
  expect(searched.searchParams.get("q")).toBe("f_05");
  expect(searched.searchParams.get("offset")).toBe("0");
  expect(screen.getByRole("link", { name: /new feature/i })).toBeInTheDocument();
});

test("a viewer sees no edit controls", async () => {
  store(VIEWER, 3);
  renderPage(<Features />, "/features");
  expect(await screen.findByRole("link", { name: "f_000" })).toBeInTheDocument();
  expect(screen.queryByRole("link", { name: /new feature/i })).not.toBeInTheDocument();
});

test("an empty store tells how to load the demo", async () => {
  store(ADMIN, 0);
  renderPage(<Features />, "/features");
  expect(await screen.findByText(/fstore serve --demo --dev --no-auth/)).toBeInTheDocument();
});
