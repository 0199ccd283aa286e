import { fileURLToPath } from "node:url";

import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The hooks import the core by the package's name (as the built package does).
    alias: [{ find: /^jobcast-client$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) }],
  },
  test: {
    include: ["test/**/*.test.{ts,tsx}"],
    globalSetup: ["./test/server/global-setup.ts"],
    // One server for every file: the files run one after another, so no test's load (the
    // join flood of core.test.ts) slows another's.
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
