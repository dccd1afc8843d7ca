// First load of the dashboard in a fresh chromium profile (no cache): the time from
// navigation to the features table showing its rows, and to the load event; prints JSON.
// Usage: node scripts/measure-load.mjs URL [runs]   (auth disabled on the server)
import { chromium } from "@playwright/test";

const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 5);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const results = { baseline: [], overview: [], features: [], loadEvent: [], jsBytes: 0 };
for (let i = 0; i < runs; i++) {
  for (const [key, path, ready] of [
    ["baseline", "/docs/oauth2-redirect", null], // a tiny page: the browser's own cost
    ["overview", "/", "text=Recent changes"],
    ["features", "/features", "table[aria-label=Features] tbody tr"],
  ]) {
    const context = await browser.newContext();
    const page = await context.newPage();
    let js = 0;
    page.on("response", async (r) => {
      if (r.url().endsWith(".js")) js += (await r.body().catch(() => Buffer.alloc(0))).length;
    });
    const started = Date.now();
    await page.goto(url + path);
    if (ready) await page.waitForSelector(ready);
    else await page.waitForLoadState("load");
    results[key].push(Date.now() - started);
    if (key === "overview") {
      results.loadEvent.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
      results.jsBytes = js;
    }
    await context.close();
  }
}
await browser.close();
console.log(JSON.stringify(results));
