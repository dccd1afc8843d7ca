// First load of the dashboard in a fresh chromium profile (no cache): the time from
// navigation to the overview / the features table showing its rows, next to a tiny page (the
// browser's floor); prints JSON. For the overview it also records where the time went: when
// the HTML, the shell's script and each API call started and ended (ms from navigation).
// Usage: node scripts/measure-load.mjs URL [runs]   (auth disabled on the server)
import { chromium } from "@playwright/test";

const [url, runsArg] = process.argv.slice(2);
const runs = Number(runsArg ?? 5);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
});
const results = { baseline: [], overview: [], features: [], loadEvent: [], jsBytes: 0, jsTransferred: 0, timeline: [] };

// Where the overview's time went, from the browser's own timings.
const timeline = (page) =>
  page.evaluate(() => {
    const round = (n) => Math.round(n);
    const nav = performance.getEntriesByType("navigation")[0];
    const steps = { html: [round(nav.requestStart), round(nav.responseEnd)] };
    for (const r of performance.getEntriesByType("resource")) {
      const path = new URL(r.name).pathname;
      const key = path.startsWith("/assets/index-") ? "shell.js" : path.startsWith("/api/") ? path : null;
      if (key) steps[key] = [round(r.startTime), round(r.responseEnd)];
    }
    steps.domContentLoaded = [round(nav.domContentLoadedEventEnd)];
    return steps;
  });

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
    const shownAt = await page.evaluate(() => Math.round(performance.now()));
    results[key].push(Date.now() - started);
    if (key === "overview") {
      await page.waitForLoadState("load");
      results.loadEvent.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
      results.jsBytes = js;
      results.jsTransferred = await page.evaluate(() =>
        performance
          .getEntriesByType("resource")
          .filter((r) => r.name.endsWith(".js"))
          .reduce((sum, r) => sum + r.transferSize, 0),
      );
      results.timeline.push({ ...(await timeline(page)), shown: [shownAt] });
    }
    await context.close();
  }
}
await browser.close();
console.log(JSON.stringify(results));
