// The package build: the core and the React hooks as ESM + CJS with their .d.ts.
// (The browser's script-tag build is tsup.browser.config.ts.)
import { defineConfig, type Options } from "tsup";

const shared: Options = {
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  target: "es2020",
  platform: "neutral",
  external: ["socket.io-client", "react", "jobcast-client"],
};

export default defineConfig([
  { ...shared, entry: { index: "src/index.ts" }, clean: true },
  // The hooks import the core by the package's own name, so an app that uses both gets one
  // copy of it (one shared connection), and the bundle is marked for React Server Components.
  { ...shared, entry: { react: "src/react/index.ts" }, banner: { js: '"use client";' } },
]);
