// Reproducible build of dist/: the same sources and lockfile give the same bytes on any machine
// (no timestamps, no absolute paths, no source maps, fixed target and options).
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, "dist");
mkdirSync(dist, { recursive: true });

const common = {
  absWorkingDir: root,
  bundle: true,
  minify: true,
  legalComments: "none",
  sourcemap: false,
  charset: "utf8",
  target: ["es2022"],
  logLevel: "warning",
  write: false,
};

async function emit(entry, out, options) {
  const result = await build({ ...common, ...options, entryPoints: [entry] });
  const [file] = result.outputFiles;
  writeFileSync(join(dist, out), file.contents);
}

await emit("src/main.js", "claim.js", { format: "iife", platform: "browser", treeShaking: true });
await emit("src/claim.css", "claim.css", { loader: { ".css": "css" } });
copyFileSync(join(root, "src/index.html"), join(dist, "index.html"));
// normalise line endings so a checkout with autocrlf builds the same bytes
for (const name of ["index.html"]) {
  const path = join(dist, name);
  writeFileSync(path, readFileSync(path, "utf8").replace(/\r\n/g, "\n"));
}
