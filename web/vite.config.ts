/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The build goes into the Python package (served by `fstore serve` at /); `npm run dev`
// proxies the API to a server on :8000.
const api = process.env.FSTORE_API ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "../src/fstore/web_dist",
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: { "/api": api, "/health": api, "/metrics": api, "/docs": api, "/openapi.json": api },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    globals: true,
    testTimeout: 120000, // userEvent typing into MUI fields takes 20-45 s in jsdom on a loaded 2-core machine
  },
});
