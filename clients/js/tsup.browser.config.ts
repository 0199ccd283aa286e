// The browser's script-tag build, served by jobcast at /jobcast/jobcast.js (setup.py copies
// it into src/jobcast/browser/): one IIFE defining the global `jobcast`, using the global `io`
// of socket.io-client's own build (/jobcast/vendor/socket.io.min.js). Under Node,
// `require()` of the same file returns the API (the bench and test scripts pass their `io`).
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { jobcast: "src/browser.ts" },
  outDir: "dist/browser",
  format: ["iife"],
  globalName: "jobcast",
  outExtension: () => ({ js: ".js" }),
  platform: "browser",
  target: "es2017",
  minify: true,
  sourcemap: true,
  dts: false,
  clean: true,
  footer: { js: 'if (typeof module === "object" && module.exports) module.exports = jobcast;' },
});
