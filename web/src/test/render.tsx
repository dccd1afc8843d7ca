import { render } from "@testing-library/react";
import type { ReactElement } from "react";
import { MemoryRouter } from "react-router-dom";
import { AuthProvider } from "../auth/AuthContext";
import { AppTheme } from "../theme";

/** A stand-in server: answers each request by method and path (without the query). */
export type Routes = Record<string, (url: URL, init: Request) => unknown>;

export function serve(routes: Routes): { calls: URL[] } {
  const calls: URL[] = [];
  vi.stubGlobal("fetch", async (input: Request) => {
    const url = new URL(input.url);
    calls.push(url);
    const handler = routes[`${input.method} ${url.pathname}`];
    if (!handler) {
      const body = { type: "about:blank", title: "Not Found", status: 404, detail: `no ${url.pathname}` };
      return new Response(JSON.stringify(body), { status: 404, headers: { "Content-Type": "application/problem+json" } });
    }
    const result = handler(url, input);
    if (result instanceof Response) return result;
    return new Response(JSON.stringify(result), { status: 200, headers: { "Content-Type": "application/json" } });
  });
  return { calls };
}

export const ADMIN = { name: "dev", role: "admin", kind: "dev" };
export const VIEWER = { name: "vi", role: "viewer", kind: "user" };

export function renderPage(page: ReactElement, path = "/") {
  return render(
    <AppTheme>
      <MemoryRouter initialEntries={[path]}>
        <AuthProvider>{page}</AuthProvider>
      </MemoryRouter>
    </AppTheme>,
  );
}
