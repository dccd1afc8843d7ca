// Copies Swagger UI and ReDoc into the build, so /docs and /redoc need no CDN.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const vendor = resolve(here, "../../src/fstore/web_dist/vendor");
mkdirSync(vendor, { recursive: true });
const swagger = dirname(require.resolve("swagger-ui-dist/package.json"));
const redoc = dirname(require.resolve("redoc/package.json"));
for (const [from, name] of [
  [resolve(swagger, "swagger-ui-bundle.js"), "swagger-ui-bundle.js"],
  [resolve(swagger, "swagger-ui.css"), "swagger-ui.css"],
  [resolve(redoc, "bundles/redoc.standalone.js"), "redoc.standalone.js"],
]) {
  copyFileSync(from, resolve(vendor, name));
}
console.log(`copied Swagger UI and ReDoc into ${vendor}`);
