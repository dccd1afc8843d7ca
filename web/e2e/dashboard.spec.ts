import { expect, test } from "@playwright/test";
import { expectAccessible, shot, signIn, token } from "./helpers";

// One story over the demo store, in order: each step builds on the one before.
test.describe.configure({ mode: "serial" });

const NAME = `e2e_score_${Date.now() % 100000}`;

test("sign in, the overview and the theme", async ({ page }) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Sign in to FStore" })).toBeVisible();
  await expectAccessible(page);
  await shot(page, "00-sign-in");
  await page.getByLabel("User name").fill("e2e_admin");
  await page.getByLabel("Password").fill("wrong password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toBeVisible();
  await signIn(page, "admin");
  await expect(page.getByText("Feature groups")).toBeVisible();
  await expect(page.getByRole("figure", { name: /Values stored per minute/ })).toBeVisible();
  await expect(page.getByText(/metadata: ok/)).toBeVisible();
  await expectAccessible(page);
  await shot(page, "01-overview");
  await page.getByRole("button", { name: "Toggle light or dark theme" }).click();
  await page.reload(); // the choice persists
  await expect(page.getByRole("heading", { name: "Overview" })).toBeVisible();
  expect(await page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe("rgb(18, 18, 18)");
  await expectAccessible(page);
  await shot(page, "02-overview-dark");
  await page.getByRole("button", { name: "Toggle light or dark theme" }).click();
});

test("create a feature with a transformer, with the API's messages next to the fields", async ({ page }) => {
  await signIn(page, "admin");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Features" }).click();
  await page.getByRole("link", { name: "New feature" }).click();
  await page.getByRole("textbox", { name: "Name", exact: true }).fill("1 bad name");
  await page.getByRole("button", { name: "Create feature" }).click();
  await expect(page.getByText(/String should match pattern/)).toBeVisible();
  await expectAccessible(page);
  await shot(page, "03-feature-form-error");
  await page.getByRole("textbox", { name: "Name", exact: true }).fill(NAME);
  await page.getByLabel("Description").fill("A score made by the e2e test");
  await page.getByLabel("Tags (comma-separated)").fill("e2e, score");
  await page.getByLabel("Transformer", { exact: true }).click();
  await page.getByRole("option", { name: "standard_scaler" }).click();
  await page.getByRole("button", { name: "Create feature" }).click();
  await expect(page.getByRole("heading", { name: new RegExp(NAME) })).toBeVisible();
  await expect(page.getByText("No values stored yet.")).toBeVisible();
});

test("find it in the list", async ({ page }) => {
  await signIn(page, "admin");
  await page.goto("/features");
  await expect(page.getByRole("table", { name: "Features" })).toBeVisible();
  await expectAccessible(page);
  await shot(page, "04-features");
  await page.getByRole("searchbox", { name: "Search by name" }).fill(NAME);
  await expect(page.getByRole("link", { name: NAME })).toBeVisible();
  await expect(page.getByText("1–1 of 1")).toBeVisible();
  await page.getByRole("link", { name: NAME }).click();
  await expect(page).toHaveURL(new RegExp(`/features/${NAME}`));
});

test("ingest values, see the charts, fit the transformer", async ({ page, request }) => {
  const bearer = { Authorization: `Bearer ${await token(request, "admin")}` };
  const values = Array.from({ length: 40 }, (_, i) => ({
    entity_id: `C${String(i).padStart(6, "0")}`,
    value: 10 + (i % 7) * 3,
    event_timestamp: new Date(Date.UTC(2026, 0, 1 + i)).toISOString(),
  }));
  const stored = await request.post(`/api/v1/features/${NAME}/values/batch`, { data: { values }, headers: bearer });
  expect(stored.status()).toBe(201);

  await signIn(page, "admin");
  await page.goto(`/features/${NAME}?tab=values`);
  await expect(page.getByRole("figure", { name: "Histogram of current values" })).toBeVisible();
  await expect(page.locator(".recharts-bar-rectangle").first()).toBeVisible();
  await expect(page.getByRole("figure", { name: "Mean value by event time" }).locator(".recharts-line")).toBeVisible();
  const activity = page.getByRole("figure", { name: /Values stored per \d+ minutes \(last 24 hours/ });
  await expect(activity.getByText(/40 new values stored in the last 24 hours/)).toBeVisible();
  await expectAccessible(page);
  await shot(page, "05-feature-values");

  await page.getByRole("tab", { name: "Transformer" }).click();
  await expect(page.getByText(/Not fitted/)).toBeVisible();
  await page.getByRole("button", { name: "Fit on stored values" }).click();
  await expect(page.getByRole("table", { name: "Fitted state" })).toBeVisible();
  await expect(page.getByRole("rowheader", { name: "mean" })).toBeVisible();
  await shot(page, "06-feature-transformer");

  await page.getByRole("tab", { name: "Online lookup" }).click();
  await page.getByLabel("customer id").fill("C000003");
  await page.getByRole("button", { name: "Look up" }).click();
  await expect(page.getByTestId("served-value")).toHaveText("19");
  await page.getByLabel("New value for C000003").fill("42");
  await page.getByRole("button", { name: "Ingest" }).click();
  await expect(page.getByTestId("served-value")).toHaveText("42");
  await expect(page.getByRole("figure", { name: /Values of C000003/ })).toBeVisible();
  await expectAccessible(page);
  await shot(page, "07-feature-lookup");
});

test("edit it: a new version, a diff, and a rollback", async ({ page }) => {
  await signIn(page, "admin");
  await page.goto(`/features/${NAME}`);
  await page.getByRole("link", { name: "Edit" }).click();
  await page.getByLabel("Description").fill("A score, described again");
  await page.getByLabel("Reason for the change").fill("clearer words");
  await expectAccessible(page);
  await shot(page, "08-feature-edit");
  await page.getByRole("button", { name: "Save new version" }).click();
  const versions = page.getByRole("table", { name: "Versions" });
  await expect(versions.getByText("clearer words")).toBeVisible();
  await expect(versions.getByRole("row")).toHaveCount(4); // header + 1.0.0, the fit, the edit
  await page.getByRole("button", { name: "Compare" }).click();
  await expect(page.getByRole("table", { name: "Differences" }).getByText("description")).toBeVisible();
  await expectAccessible(page);
  await shot(page, "09-feature-versions");
  await page.getByRole("button", { name: "Roll back to 1.0.0" }).click();
  await expect(versions.getByRole("row", { name: /1\.0\.0 current/ })).toBeVisible();
  await expect(page.getByRole("heading", { name: /v1\.0\.0/ })).toBeVisible();
});

test("build and download a point-in-time training set", async ({ page }) => {
  await signIn(page, "admin");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Training sets" }).click();
  const features = page.getByRole("combobox", { name: "Features" });
  for (const name of [NAME, "credit_score"]) {
    await features.fill(name);
    await page.getByRole("option", { name, exact: true }).click();
  }
  const rows = "customer_id,event_timestamp,label\nC000003,2026-06-01T00:00:00Z,1\nC000004,2026-01-02T00:00:00Z,0\n";
  await page.getByLabel("Entity file").setInputFiles({ name: "rows.csv", mimeType: "text/csv", buffer: Buffer.from(rows) });
  await page.getByRole("button", { name: "Build training set" }).click();
  const link = page.getByRole("link", { name: "Download training_set.csv" });
  await expect(link).toBeVisible();
  const download = page.waitForEvent("download");
  await link.click();
  const csv = await (await download).createReadStream();
  let text = "";
  for await (const chunk of csv) text += chunk;
  const [header, ...lines] = text.trim().split("\n");
  expect(header).toContain(NAME);
  expect(header).toContain("credit_score");
  expect(lines).toHaveLength(2);
  await page.getByLabel("Format").click();
  await page.getByRole("option", { name: "JSON (with a preview)" }).click();
  await page.getByRole("button", { name: "Build training set" }).click();
  await expect(page.getByRole("table", { name: "Training set preview" }).getByRole("row")).toHaveCount(3);
  await expectAccessible(page);
  await shot(page, "12-training-set");
});

test("the other pages load and pass the accessibility scan", async ({ page }) => {
  await signIn(page, "admin");
  for (const [path, heading, name] of [
    [`/features/${NAME}?tab=overview`, NAME, "10-feature-overview"],
    [`/features/${NAME}?tab=lineage`, NAME, "11-feature-lineage"],
    ["/groups", "Feature groups", "13-groups"],
    ["/history", "Change history", "14-history"],
    ["/users", "Users & API keys", "15-users"],
  ] as const) {
    await page.goto(path);
    await expect(page.getByRole("heading", { name: heading, exact: false }).first()).toBeVisible();
    await page.waitForLoadState("networkidle");
    await expectAccessible(page);
    await shot(page, name);
  }
  await page.setViewportSize({ width: 820, height: 1180 }); // a tablet
  await page.goto("/features");
  await expect(page.getByRole("table", { name: "Features" })).toBeVisible();
  await expect(page.getByRole("button", { name: "Open navigation" })).toBeVisible();
  await shot(page, "16-features-tablet");
});

test("a viewer sees no edit controls", async ({ page }) => {
  await signIn(page, "viewer");
  await page.goto("/features");
  await expect(page.getByRole("table", { name: "Features" })).toBeVisible();
  await expect(page.getByRole("link", { name: "New feature" })).toHaveCount(0);
  await expect(page.getByRole("link", { name: "Users & API keys" })).toHaveCount(0);
  await page.goto(`/features/${NAME}?tab=versions`);
  await expect(page.getByRole("table", { name: "Versions" })).toBeVisible();
  await expect(page.getByRole("link", { name: "Edit" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /Roll back/ })).toHaveCount(0);
  await expect(page.getByRole("button", { name: /^Delete/ })).toHaveCount(0);
  await page.goto(`/features/${NAME}/edit`);
  await expect(page.getByText("Your role cannot create or edit features")).toBeVisible();
  await shot(page, "17-viewer");
});

test("an admin deletes a feature, an entity and a user, each after confirming", async ({ page, request }) => {
  const headers = { Authorization: `Bearer ${await token(request, "admin")}` };
  const entity = `e2e_gone_${Date.now() % 100000}`;
  const user = `e2e_gone_user_${Date.now() % 100000}`;
  expect((await request.post("/api/v1/entities", { headers, data: { name: entity } })).ok()).toBeTruthy();
  const created = await request.post("/api/v1/users", {
    headers,
    data: { name: user, password: "a long e2e passphrase", role: "viewer" },
  });
  expect(created.ok()).toBeTruthy();
  await signIn(page, "admin");

  await page.goto(`/features/${NAME}?tab=versions`);
  // changes made in the dashboard are recorded as the signed-in user, not the server's OS user
  await expect(page.getByRole("table", { name: "Versions" }).getByText("e2e_admin").first()).toBeVisible();
  await page.getByRole("button", { name: `Delete feature ${NAME}` }).click();
  const dialog = page.getByRole("dialog", { name: `Delete feature ${NAME}?` });
  await expect(dialog).toBeVisible();
  // scanned once faded in: mid-fade the button's colours blend with the page (a contrast "violation")
  await expect(page.locator(".MuiDialog-container")).toHaveCSS("opacity", "1");
  await expectAccessible(page);
  await shot(page, "18-delete-confirmation");
  await dialog.getByRole("button", { name: "Cancel" }).click(); // nothing happens without confirming
  await expect(page.getByRole("heading", { name: new RegExp(NAME) })).toBeVisible();
  await page.getByRole("button", { name: `Delete feature ${NAME}` }).click();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("table", { name: "Features" })).toBeVisible();
  expect((await request.get(`/api/v1/features/${NAME}`, { headers })).status()).toBe(404);

  await page.goto("/groups");
  await page.getByRole("button", { name: `Delete entity ${entity}` }).click();
  await page.getByRole("dialog", { name: `Delete entity ${entity}?` }).getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("table", { name: "Entities" }).getByText(entity, { exact: true })).toHaveCount(0);

  await page.goto("/users");
  await page.getByRole("button", { name: `Delete user ${user}` }).click();
  await page.getByRole("dialog", { name: `Delete user ${user}?` }).getByRole("button", { name: "Delete" }).click();
  await expect(page.getByRole("table", { name: "Users" }).getByText(user, { exact: true })).toHaveCount(0);
});
