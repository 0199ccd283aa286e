// @vitest-environment jsdom
/**
 * The hooks in a DOM (jsdom) with the real socket.io-client against the real server. React
 * renders as in a browser (not inside act()): the tests wait for the renders themselves.
 */
import { cleanup, render } from "@testing-library/react";
import { StrictMode, useEffect, type ReactNode } from "react";
import { afterEach, beforeAll, expect, test } from "vitest";

import {
  JobcastHttpError, cancelJob, enqueue, getOutput, watchJob, type Connection, type ConnectionStatus,
} from "../src/index";
import { useJobcastContext } from "../src/react/context";
import {
  JobcastProvider, useConnectionStatus, useEnqueue, useJob, type JobView, type UseEnqueue,
} from "../src/react/index";
import { connectTo, connected, dropAndReconnect, recordJoins, serverUrl } from "./helpers";

beforeAll(() => {
  (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;
});

const open: Connection[] = [];
function connection(): Connection {
  const conn = connectTo();
  open.push(conn);
  return conn;
}
afterEach(() => {
  cleanup();
  for (const conn of open.splice(0)) conn.close();
});
const http = () => ({ baseUrl: serverUrl() });

/** What a component rendered (committed), and a way to wait for one. */
function recorder<T>() {
  const seen: T[] = [];
  const waiting: Array<{ test: (v: T) => boolean; resolve: (v: T) => void }> = [];
  return {
    seen,
    log(value: T): void {
      seen.push(value);
      for (const w of waiting.splice(0)) {
        if (w.test(value)) w.resolve(value);
        else waiting.push(w);
      }
    },
    /** The first value (so far, or to come) that passes. */
    until(test: (v: T) => boolean): Promise<T> {
      const found = seen.find(test);
      if (found !== undefined) return Promise.resolve(found);
      return this.next(test);
    },
    /** The next value to come that passes. */
    next(test: (v: T) => boolean): Promise<T> {
      return new Promise((resolve) => waiting.push({ test, resolve }));
    },
  };
}
const views = () => recorder<JobView>();

function Job({ jobId, token, log }: { jobId: string | null; token?: string; log: (v: JobView) => void }) {
  const view = useJob(jobId, { token });
  useEffect(() => log(view)); // each committed view
  return <p data-state={view.state}>{view.progress}</p>;
}

function inProvider(conn: Connection, children: ReactNode, strict = true) {
  const tree = <JobcastProvider connection={conn} baseUrl={serverUrl()}>{children}</JobcastProvider>;
  return strict ? <StrictMode>{tree}</StrictMode> : tree;
}

/** Resolves at the next `event` the connection sends for `jobId`. */
function sent(conn: Connection, event: string, jobId: string): Promise<void> {
  return new Promise((resolve) => {
    const emit = conn.socket.emit.bind(conn.socket);
    conn.socket.emit = ((name: string, ...args: unknown[]) => {
      if (name === event && args[0] === jobId) resolve();
      return emit(name, ...args);
    }) as typeof conn.socket.emit;
  });
}

test("useJob under StrictMode joins once, shows monotonic progress, the result, and stops", async () => {
  const conn = connection();
  await connected(conn);
  const joins = recordJoins(conn);
  const { jobId } = await enqueue("bulk", { items: 40, item_ms: 10 }, http());
  const v = views();
  render(inProvider(conn, <Job jobId={jobId} log={v.log} />));
  expect(v.seen[0]).toMatchObject({ jobId, state: "loading", progress: 0, output: "", error: null });
  const end = await v.until((x) => x.done);
  expect(end).toMatchObject({ jobId, state: "completed", progress: 100, result: { items: 40 }, reason: null,
                              error: null, eta: null });
  expect(joins.filter((j) => j.jobId === jobId)).toHaveLength(1);
  const progress = v.seen.map((x) => x.progress);
  expect(progress).toEqual([...progress].sort((a, b) => a - b));
  expect(new Set(progress).size).toBeGreaterThan(2); // it moved through values, live
  expect(v.seen.some((x) => x.state === "active" && x.progress > 0 && x.progress < 100)).toBe(true);
  // Ended: a reconnect does not join it again.
  await dropAndReconnect(conn);
  expect(joins.filter((j) => j.jobId === jobId)).toHaveLength(1);
});

test("two components showing one job share one join; unmounting them leaves the room", async () => {
  const conn = connection();
  await connected(conn);
  const joins = recordJoins(conn);
  const { jobId } = await enqueue("bulk", { items: 400, item_ms: 10 }, http());
  const a = views();
  const b = views();
  const { unmount } = render(inProvider(conn, <><Job jobId={jobId} log={a.log} /><Job jobId={jobId} log={b.log} /></>));
  await a.until((x) => x.progress > 0);
  await b.until((x) => x.progress > 0);
  expect(joins.filter((j) => j.jobId === jobId)).toHaveLength(1);
  const left = sent(conn, "leaveRoom", jobId);
  unmount();
  await left;
  expect(conn.rooms).not.toContain(jobId);
  await conn.cancel(jobId);
});

test("a new job id switches the room; no job id is idle", async () => {
  const conn = connection();
  await connected(conn);
  const first = await enqueue("bulk", { items: 400, item_ms: 10 }, http());
  const second = await enqueue("bulk", { items: 3 }, http());
  const v = views();
  const { rerender } = render(inProvider(conn, <Job jobId={first.jobId} log={v.log} />));
  await v.until((x) => x.jobId === first.jobId && x.progress > 0);
  const left = sent(conn, "leaveRoom", first.jobId);
  rerender(inProvider(conn, <Job jobId={second.jobId} log={v.log} />));
  const next = v.seen.length;
  await left;
  const done = await v.until((x) => x.jobId === second.jobId && x.done);
  expect(done.result).toEqual({ items: 3 });
  // Never a view of the new id with the old job's progress.
  expect(v.seen.slice(next).filter((x) => x.jobId === second.jobId && x.state === "loading")
    .every((x) => x.progress === 0)).toBe(true);
  rerender(inProvider(conn, <Job jobId={null} log={v.log} />));
  await v.until((x) => x.state === "idle");
  expect(v.seen.at(-1)).toMatchObject({ jobId: null, state: "idle", progress: 0 });
  await conn.cancel(first.jobId);
});

test("after a dropped connection useJob gets exactly what it missed (after: seq)", async () => {
  const conn = connection();
  await connected(conn);
  const joins = recordJoins(conn);
  const { jobId } = await enqueue("story", { prompt: "react", words: 200, word_ms: 10 }, http());
  const v = views();
  render(inProvider(conn, <Job jobId={jobId} log={v.log} />));
  const mid = await v.until((x) => x.output.split(" ").length > 20);
  await dropAndReconnect(conn);
  const end = await v.until((x) => x.done);
  const stored = await getOutput(jobId, http());
  expect(end.output).toBe(stored.entries.map((e) => e.text).join(""));
  expect(end.output.startsWith(mid.output)).toBe(true);
  const mine = joins.filter((j) => j.jobId === jobId);
  expect(mine).toHaveLength(2);
  expect(mine[1]?.options.after).toBeGreaterThanOrEqual(0);
  expect(mine[1]?.options.after).toBeLessThan(stored.total - 1);
  expect(end).toMatchObject({ state: "completed", result: { words: 200 }, message: "word 200 of 200" });
});

test("a job that streams on and ends while the connection is down: useJob shows the rest once, then the end", async () => {
  const conn = connection();
  const other = connection();
  await connected(conn);
  const joins = recordJoins(conn);
  const { jobId } = await enqueue("story", { prompt: "react away", words: 120, word_ms: 5 }, http());
  const v = views();
  render(inProvider(conn, <Job jobId={jobId} log={v.log} />));
  const mid = await v.until((x) => x.output.split(" ").length > 10);
  conn.socket.disconnect();
  await expect(watchJob(jobId, { connection: other })).resolves.toMatchObject({ state: "completed" });
  expect(v.seen.at(-1)?.done).toBe(false);
  conn.socket.connect();
  const end = await v.until((x) => x.done);
  const stored = await getOutput(jobId, http());
  expect(end).toMatchObject({ state: "completed", progress: 100, result: { words: 120 }, error: null });
  expect(end.output).toBe(stored.entries.map((e) => e.text).join(""));
  // Each committed view's output extends the one before (never a chunk twice, never a reset),
  // and progress never goes back.
  for (let i = 1; i < v.seen.length; i += 1) {
    const [before, after] = [v.seen[i - 1] as JobView, v.seen[i] as JobView];
    expect(after.output.startsWith(before.output)).toBe(true);
    expect(after.progress).toBeGreaterThanOrEqual(before.progress);
  }
  expect(end.output.startsWith(mid.output)).toBe(true);
  const mine = joins.filter((j) => j.jobId === jobId);
  expect(mine).toHaveLength(2);
  expect(mine[1]?.options.after).toBeGreaterThanOrEqual(0);
  await expect(mine[1]?.answered).resolves.toMatchObject({ ok: true, state: "completed" });
});

test("a failed, a cancelled and a refused job: reason, state, error", async () => {
  const conn = connection();
  await connected(conn);
  const failing = await enqueue("fail", { reason: "nope" }, http());
  const a = views();
  render(inProvider(conn, <Job jobId={failing.jobId} log={a.log} />));
  expect(await a.until((x) => x.done)).toMatchObject({ state: "failed", reason: "nope", result: null, error: null });

  const long = await enqueue("bulk", { items: 1000, item_ms: 10 }, http());
  const b = views();
  render(inProvider(conn, <Job jobId={long.jobId} log={b.log} />));
  await b.until((x) => x.progress > 0);
  await conn.cancel(long.jobId);
  expect(await b.until((x) => x.done)).toMatchObject({ state: "cancelled", done: true });

  const other = await enqueue("bulk", { items: 2 }, http());
  const c = views();
  render(inProvider(conn, <Job jobId={other.jobId} token={failing.watchToken ?? ""} log={c.log} />));
  const refused = await c.until((x) => x.state === "error");
  expect(refused.error).toMatchObject({ name: "JobcastJoinError", message: "the watch token is for another job" });
  expect(refused.done).toBe(false);
});

test("a provider that opened its connection closes it on unmount, and keeps it through StrictMode's remount", async () => {
  const opened = new Set<Connection>();
  function Grab() {
    const context = useJobcastContext();
    useEffect(() => void opened.add(context.connection()), [context]);
    return null;
  }
  const { jobId } = await enqueue("bulk", { items: 400, item_ms: 10 }, http());
  const v = views();
  const { unmount } = render(
    <StrictMode>
      <JobcastProvider baseUrl={serverUrl()} connectOptions={{ ioOptions: { transports: ["websocket"], forceNew: true } }}>
        <Grab />
        <Job jobId={jobId} log={v.log} />
      </JobcastProvider>
    </StrictMode>);
  await v.until((x) => x.progress > 0); // live after StrictMode's unmount-and-mount
  expect(opened.size).toBe(1);
  const [conn] = [...opened] as [Connection];
  expect(conn.connected).toBe(true);
  const closed = new Promise((resolve) => conn.socket.once("disconnect", resolve));
  unmount();
  await expect(closed).resolves.toBe("io client disconnect");
  expect(conn.status).toBe("disconnected");
  await cancelJob(jobId, http());
});

test("useEnqueue: pending, then the job id and watch token; a 422 is an error with its details", async () => {
  const conn = connection();
  const states = recorder<UseEnqueue<{ items: number | string }>>();
  function Starter() {
    const state = useEnqueue<{ items: number | string }>("bulk");
    useEffect(() => states.log(state));
    return null;
  }
  render(inProvider(conn, <Starter />, false));
  const first = await states.until(() => true);
  expect(first).toMatchObject({ jobId: null, watchToken: null, pending: false, error: null });
  const answer = await first.enqueue({ items: 2 });
  expect(answer?.jobId).toEqual(expect.any(String));
  const started = await states.until((s) => s.jobId !== null);
  expect(started).toMatchObject({ jobId: answer?.jobId, watchToken: answer?.watchToken, pending: false, error: null });
  expect(states.seen.some((s) => s.pending)).toBe(true);

  const bad = await started.enqueue({ items: "two" });
  expect(bad).toBeNull();
  const failed = await states.until((s) => s.error !== null);
  expect(failed.error).toBeInstanceOf(JobcastHttpError);
  expect(failed.error).toMatchObject({ status: 422, message: "invalid input" });
  expect((failed.error as JobcastHttpError).details.map((d) => d.field)).toEqual(["items"]);
  expect(failed).toMatchObject({ jobId: null, pending: false });
});

test("useConnectionStatus follows the socket", async () => {
  const conn = connection();
  const statuses = recorder<ConnectionStatus>();
  function Status() {
    const status = useConnectionStatus();
    useEffect(() => statuses.log(status), [status]);
    return null;
  }
  render(inProvider(conn, <Status />, false));
  await statuses.until((s) => s === "connected");
  const back = statuses.next((s) => s === "reconnecting").then(() => statuses.next((s) => s === "connected"));
  await dropAndReconnect(conn);
  await back;
  expect(statuses.seen[0]).toBe("connecting");
  expect(statuses.seen.at(-1)).toBe("connected");
});
