import { api, ok, setTokenSource } from "../api/client";
import { Session } from "./session";

const tokens = (n: number) => ({ access_token: `access-${n}`, refresh_token: `refresh-${n}`, expires_in: 900 });
const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });

afterEach(() => {
  vi.unstubAllGlobals();
  sessionStorage.clear();
  setTokenSource(null);
});

test("an expired access token is renewed once, silently, and the request retried", async () => {
  const seen: string[] = [];
  let refreshes = 0;
  vi.stubGlobal("fetch", async (input: Request | string, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(input, "http://localhost"), init);
    const path = new URL(request.url).pathname;
    if (path === "/api/v1/auth/token") return json(tokens(1));
    if (path === "/api/v1/auth/refresh") {
      refreshes += 1;
      expect(await request.json()).toEqual({ refresh_token: "refresh-1" });
      return json(tokens(2));
    }
    const auth = request.headers.get("Authorization") ?? "";
    seen.push(auth);
    if (auth !== "Bearer access-2") return json({ type: "x", title: "Unauthorized", status: 401, detail: "expired" }, 401);
    return json({ name: "ana", role: "editor", kind: "user" });
  });
  const session = new Session();
  setTokenSource(session);
  await session.signIn("ana", "a long passphrase");
  const [first, second] = await Promise.all([ok(api.GET("/api/v1/auth/me")), ok(api.GET("/api/v1/auth/me"))]);
  expect(first.name).toBe("ana");
  expect(second.name).toBe("ana");
  expect(refreshes).toBe(1); // two 401s at once share one refresh (a refresh token works once)
  expect(seen.filter((s) => s === "Bearer access-1")).toHaveLength(2);
  expect(JSON.parse(sessionStorage.getItem("fstore.session")!).refresh).toBe("refresh-2");
});

test("a refused refresh ends the session", async () => {
  vi.stubGlobal("fetch", async (input: Request | string) => {
    const path = new URL(input instanceof Request ? input.url : input, "http://localhost").pathname;
    if (path === "/api/v1/auth/token") return json(tokens(1));
    return json({ type: "x", title: "Unauthorized", status: 401, detail: "spent" }, 401);
  });
  const session = new Session();
  const expired = vi.fn();
  session.whenExpired(expired);
  setTokenSource(session);
  await session.signIn("ana", "a long passphrase");
  await expect(ok(api.GET("/api/v1/auth/me"))).rejects.toThrow("spent");
  expect(expired).toHaveBeenCalledOnce();
  expect(session.signedIn).toBe(false);
  expect(sessionStorage.getItem("fstore.session")).toBeNull();
});
