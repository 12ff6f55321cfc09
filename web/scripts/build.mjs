// Builds the web client into dist/ (what ferryd serves at /):
//   dist/index.html             no hash: ferryd serves it with no-cache
//   dist/assets/app-HASH.js     content-hashed: served as immutable
//   dist/assets/app-HASH.css
//   dist/favicon.svg            and the rest of src/public/
// With --tests, bundles tests/unit/*.test.ts into .build/unit/ for `node --test`.
import * as esbuild from "esbuild";
import { cp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

async function buildTests() {
  const dir = join(root, "tests/unit");
  const entries = (await readdir(dir)).filter((f) => f.endsWith(".test.ts")).map((f) => join(dir, f));
  await rm(join(root, ".build/unit"), { recursive: true, force: true });
  await esbuild.build({
    entryPoints: entries,
    outdir: join(root, ".build/unit"),
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    packages: "external",
    logLevel: "warning",
  });
}

async function buildApp() {
  const out = join(root, "dist");
  await rm(out, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: { app: join(root, "src/main.tsx") },
    outdir: join(out, "assets"),
    entryNames: "[name]-[hash]",
    bundle: true,
    minify: true,
    sourcemap: false,
    format: "esm",
    target: ["chrome100", "firefox100", "safari15"],
    jsx: "automatic",
    jsxImportSource: "preact",
    metafile: true,
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => p.slice(p.indexOf("assets/")));
  const js = outputs.find((p) => p.endsWith(".js"));
  const css = outputs.find((p) => p.endsWith(".css"));
  let html = await readFile(join(root, "src/index.html"), "utf8");
  html = html.replace("%APP_JS%", "/" + js).replace("%APP_CSS%", "/" + css);
  await writeFile(join(out, "index.html"), html);
  await cp(join(root, "src/public"), out, { recursive: true }); // favicon.svg, served as is

}

if (process.argv.includes("--tests")) await buildTests();
else await buildApp();
