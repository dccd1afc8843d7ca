import AxeBuilder from "@axe-core/playwright";
import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";

export const USERS = {
  admin: { name: "e2e_admin", password: process.env.FSTORE_E2E_PASSWORD ?? "a long e2e passphrase" },
  viewer: { name: "e2e_viewer", password: process.env.FSTORE_E2E_PASSWORD ?? "a long e2e passphrase" },
};

const SHOTS = resolve(process.env.FSTORE_E2E_SCREENSHOTS ?? "screenshots");
mkdirSync(SHOTS, { recursive: true });

export async function signIn(page: Page, who: keyof typeof USERS): Promise<void> {
  await page.goto("/");
  await page.getByLabel("User name").fill(USERS[who].name);
  await page.getByLabel("Password").fill(USERS[who].password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
}

/** Saves a screenshot of the page (not committed: web/screenshots is git-ignored). */
export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: resolve(SHOTS, `${name}.png`), fullPage: true });
}

/** No serious or critical accessibility violations on the page as it is now. */
export async function expectAccessible(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join("; ")})`)).toEqual([]);
}

export async function token(request: APIRequestContext, who: keyof typeof USERS): Promise<string> {
  const response = await request.post("/api/v1/auth/token", {
    form: { username: USERS[who].name, password: USERS[who].password },
  });
  expect(response.ok()).toBeTruthy();
  return (await response.json()).access_token as string;
}
