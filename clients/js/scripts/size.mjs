// The package's weight as an app ships it (the figures in README.md): each entry bundled and
// minified by esbuild (tsup's own bundler) from the built dist/, gzipped; run `npm run build`
// first. With socket.io-client, the only runtime dependency, counted in and out.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const here = (path) => fileURLToPath(new URL(`../${path}`, import.meta.url));

// The hooks import the core by the package's name: as in an app, that is the built core (not
// the sources tsconfig.json's `paths` point the type checker at).
const ownName = {
  name: "jobcast-client",
  setup(b) {
    b.onResolve({ filter: /^jobcast-client$/ }, (args) => (
      args.kind === "import-statement" ? { path: here("dist/index.mjs") } : undefined));
  },
};

async function bundle(contents, external) {
  const out = await build({
    stdin: { contents, resolveDir: here("."), loader: "js" },
    bundle: true, minify: true, write: false, format: "esm", platform: "browser",
    external,
    plugins: external.includes("jobcast-client") ? [] : [ownName], logLevel: "silent",
  });
  return out.outputFiles[0].contents;
}

const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const row = (name, bytes) => console.log(`${name.padEnd(58)} ${kib(bytes.length).padStart(9)} min  ${kib(gzipSync(bytes, { level: 9 }).length).padStart(9)} gzip`);

const core = 'export { connect, watchJob, enqueue } from "./dist/index.mjs";';
const all = 'export * from "./dist/index.mjs";';
const hooks = 'export { useJob, useEnqueue } from "./dist/react.mjs";';
row("core: connect + watchJob + enqueue (socket.io-client apart)", await bundle(core, ["socket.io-client"]));
row("core: the whole API (socket.io-client apart)", await bundle(all, ["socket.io-client"]));
row("core: the whole API, with socket.io-client", await bundle(all, []));
row("react: useJob + useEnqueue (core and React apart)",
    await bundle(hooks, ["jobcast-client", "react", "socket.io-client"]));
row("react + core + socket.io-client (React apart)", await bundle(hooks, ["react"]));
row("script build: dist/browser/jobcast.js (socket.io apart)", readFileSync(here("dist/browser/jobcast.js")));
