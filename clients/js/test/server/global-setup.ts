/**
 * vitest's global setup: a real jobcast (`jobcast up`: an embedded redis-server, the web and a
 * worker) on a free port in a temporary data dir, with the test jobs; stopped after the run.
 * The tests find it with `inject("jobcastUrl")`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import type { TestProject } from "vitest/node";

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, "..", "..", "..", "..");
const QUEUES = ["report", "bulk", "story", "fail", "flaky"];

declare module "vitest" {
  export interface ProvidedContext {
    jobcastUrl: string;
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? ok(address.port) : fail(new Error("no port"))));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((ok) => {
    if (child.exitCode !== null || child.signalCode !== null) ok(child.exitCode);
    else child.once("exit", (code) => ok(code));
  });
}

/** Ready: Redis answers and every test queue has a worker (a process start has no event to
 *  await but its answers). */
async function ready(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`jobcast up exited (${child.exitCode}):\n${log()}`);
    try {
      const res = await fetch(`${url}/readyz`);
      const body = (await res.json()) as { queues?: Record<string, { workers: number }> };
      if (res.ok && QUEUES.every((q) => (body.queues?.[q]?.workers ?? 0) > 0)) return;
      last = JSON.stringify(body);
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`jobcast up not ready within 60 s (last answer: ${last}):\n${log()}`);
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = process.env.JOBCAST_BIN ?? join(REPO, ".venv", "bin", "jobcast");
  const port = await freePort();
  const data = mkdtempSync(join(tmpdir(), "jobcast-client-tests-"));
  let output = "";
  const child = spawn(bin, ["up", "--port", String(port), "--jobs", "client_test_jobs:jobs",
                            "--app-dir", join(HERE)], {
    cwd: data,
    // The server's own defaults (100 rooms a socket, its join budget): the tests rely on them.
    env: { ...process.env, JOBCAST_DATA_DIR: data, JOBCAST_LOG_LEVEL: "warning" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await ready(url, child, () => output);
  } catch (err) {
    child.kill("SIGKILL");
    rmSync(data, { recursive: true, force: true });
    throw err;
  }
  project.provide("jobcastUrl", url);
  return async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await exited(child);
    clearTimeout(timer);
    rmSync(data, { recursive: true, force: true });
  };
}
