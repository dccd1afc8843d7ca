import { defineConfig } from "@playwright/test";

// Runs against a server that is already up (tests/e2e/test_dashboard.py starts `fstore serve`
// with the demo data and passes its URL), in Debian's chromium: never `playwright install`.
export default defineConfig({
  testDir: "e2e",
  timeout: 90_000,
  expect: { timeout: 15_000 },
  workers: 1,
  retries: 0,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL: process.env.FSTORE_E2E_URL ?? "http://127.0.0.1:8000",
    viewport: { width: 1366, height: 860 },
    trace: "off",
    screenshot: "only-on-failure",
    // the app then skips its transitions, so an accessibility scan never sees a half-faded dialog
    reducedMotion: "reduce",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
