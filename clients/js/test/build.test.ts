/**
 * The built package (`npm run build`: dist/), as an app and a script tag get it: ESM and CJS
 * entries with their types, the React entry marked for client components and importing the
 * core by name, and the script build's global API (the one jobcast serves at
 * /jobcast/jobcast.js) under Node with the real socket.io-client.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import { io } from "socket.io-client";
import { beforeAll, expect, test } from "vitest";

import { serverUrl } from "./helpers";

const PACKAGE = fileURLToPath(new URL("..", import.meta.url));
const dist = (name: string) => `${PACKAGE}dist/${name}`;
const require = createRequire(import.meta.url);

beforeAll(() => {
  for (const name of ["index.js", "index.mjs", "react.mjs", "browser/jobcast.js"]) {
    if (!existsSync(dist(name))) throw new Error(`dist/${name} is missing: run \`npm run build\` first`);
  }
});

test("the entries resolve through the package's exports, ESM and CJS, with their types", async () => {
  const pkg = JSON.parse(readFileSync(`${PACKAGE}package.json`, "utf8")) as { exports: Record<string, unknown> };
  for (const name of ["index.d.ts", "index.d.mts", "react.d.ts", "react.d.mts"]) expect(existsSync(dist(name)), name).toBe(true);
  expect(Object.keys(pkg.exports)).toEqual([".", "./react", "./browser", "./package.json"]);
  const cjs = require(dist("index.js")) as Record<string, unknown>;
  const esm = (await import(dist("index.mjs"))) as Record<string, unknown>;
  for (const api of ["connect", "watchJob", "enqueue", "getJob", "getOutput", "getLogs", "cancelJob",
                     "resultUrl", "defaultConnection", "Connection", "JobWatch", "JobcastError",
                     "JobcastHttpError", "JobcastNetworkError", "JobcastJoinError"]) {
    expect(typeof cjs[api], `cjs ${api}`).toBe("function");
    expect(typeof esm[api], `esm ${api}`).toBe("function");
  }
  const react = readFileSync(dist("react.mjs"), "utf8");
  expect(react.startsWith('"use client";')).toBe(true);
  expect(react).toMatch(/from "jobcast-client"/); // one core for both entries
  expect(react).not.toMatch(/class Connection/);
  expect(readFileSync(dist("react.js"), "utf8").startsWith('"use client";')).toBe(true);
});

test("no runtime dependency but socket.io-client: the built entries import nothing else", () => {
  const pkg = JSON.parse(readFileSync(`${PACKAGE}package.json`, "utf8")) as {
    dependencies: Record<string, string>; peerDependencies: Record<string, string>;
  };
  expect(Object.keys(pkg.dependencies)).toEqual(["socket.io-client"]);
  expect(Object.keys(pkg.peerDependencies)).toEqual(["react"]);
  const imports = (file: string) => [...readFileSync(dist(file), "utf8")
    .matchAll(/(?:from\s*|import\s*\(?\s*|require\()\s*"([^"./][^"]*)"/g)].map((m) => m[1]);
  expect(new Set([...imports("index.mjs"), ...imports("index.js")])).toEqual(new Set(["socket.io-client"]));
  expect(new Set([...imports("react.mjs"), ...imports("react.js")])).toEqual(new Set(["react", "jobcast-client"]));
});

test("the script build: the global API of the first client, on the real socket.io-client", async () => {
  const jobcast = require(dist("browser/jobcast.js")) as typeof import("../src/browser");
  expect(jobcast.baseUrl).toBe("");
  const client = jobcast.connect({ url: serverUrl(), io, ioOptions: { transports: ["websocket"], forceNew: true } });
  try {
    const { jobId } = await jobcast.start("story", { prompt: "script", words: 30, word_ms: 10 }, { baseUrl: serverUrl() });
    const progress: number[] = [];
    let text = "";
    const calls: string[] = [];
    const result = await new Promise<unknown>((resolve, reject) => {
      const watcher = jobcast.watch(client, "story", jobId, {
        onProgress: (p) => progress.push(p),
        onOutput: (chunk) => (text += chunk),
        onJoin: (ack) => calls.push(`join:${String(ack.ok)}`),
        onCompleted: (r) => {
          calls.push("completed");
          resolve(r);
        },
        onFailed: (reason) => reject(new Error(reason)),
      });
      expect(watcher.done).toBe(false);
    });
    expect(result).toEqual({ words: 30, chars: text.length });
    expect(progress.at(-1)).toBe(100);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(calls.filter((c) => c === "completed")).toHaveLength(1);
    const status = await jobcast.getJob(jobId, { baseUrl: serverUrl() });
    expect(status).toMatchObject({ jobId, state: "completed", output: expect.any(Number) });
    expect(status.output).toBeGreaterThan(1);
    const rest = await jobcast.getOutput(jobId, 0, { baseUrl: serverUrl() });
    expect(rest.entries.map((e) => e.seq)).toEqual(Array.from({ length: status.output - 1 }, (_, i) => i + 1));
    const err = await jobcast.start("report", { pages: 0 }, { baseUrl: serverUrl() }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 422, body: { error: "invalid input" } });
    expect(() => jobcast.connect()).toThrow(/socket.io-client is not loaded/);
  } finally {
    client.close();
  }
});
