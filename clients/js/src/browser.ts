/**
 * The script-tag build (global `jobcast`), served by jobcast at `<mount>/jobcast/jobcast.js`.
 * Load socket.io-client first (it defines the global `io`):
 *
 *     <script src="/jobcast/vendor/socket.io.min.js"></script>
 *     <script src="/jobcast/jobcast.js"></script>
 *
 *     const client = jobcast.connect();
 *     const { jobId } = await jobcast.start("report", { title: "Q3", pages: 20 });
 *     jobcast.watch(client, "report", jobId, {
 *       onProgress: (pct, p) => ...,         // monotonic, 0..100; p.message, p.eta (s left)
 *       onOutput: (text, p) => ...,          // streamed output, in order, each chunk once
 *       onLog: (line, p) => ...,             // log lines, in order, each once
 *       onCompleted: (result) => ...,        // at most once
 *       onFailed: (reason, payload) => ...,  // at most once; payload.state "failed" | "cancelled"
 *       onCancelled: (payload) => ...,       // optional: cancelled jobs call it instead
 *       onRetrying: (attempt, reason) => ...,
 *     });
 *
 * The base URL (API, Socket.IO path) defaults to where this script was loaded from, so a page
 * works the same whether jobcast is mounted at / or under a prefix. The package's promise API
 * is here too: `jobcast.enqueue`, `jobcast.watchJob(jobId, {onProgress, ...})`.
 */
import { Connection, type ConnectOptions, type IoFactory } from "./connection";
import * as http from "./http";
import type {
  CompletedEvent, Entries, EnqueueAnswer, FailedEvent, JobStatus, JoinAck, LogEvent, OutputEvent,
  ProgressEvent, RetryingEvent, TerminalEvent,
} from "./types";
import { JobWatch, type WatchOptions } from "./watch";

export { JobcastError, JobcastHttpError, JobcastJoinError, JobcastNetworkError } from "./errors";
export { Connection, JobWatch };
export const enqueue = http.enqueue;
export const getLogs = http.getLogs;
export const resultUrl = http.resultUrl;

/** Where jobcast is mounted: this script sits at `<base>/jobcast/jobcast.js`. */
export const baseUrl: string = (() => {
  const script = typeof document !== "undefined" ? document.currentScript : null;
  if (!script || !(script instanceof HTMLScriptElement) || !script.src) return "";
  const path = new URL(script.src, globalThis.location?.href).pathname;
  return path.replace(/\/jobcast\/jobcast\.js$/, "").replace(/\/+$/, "");
})();

function based<T extends { baseUrl?: string }>(options: T | undefined): T {
  return { ...options, baseUrl: options?.baseUrl ?? baseUrl } as T;
}

/** Open one Socket.IO connection (socket.io-client's global `io`, or `options.io`). */
export function connect(options: ConnectOptions = {}): Connection {
  const io = options.io ?? (globalThis as { io?: IoFactory }).io;
  if (typeof io !== "function") {
    throw new Error("jobcast: socket.io-client is not loaded (global `io` missing)");
  }
  return new Connection(io, based(options));
}

let shared: Connection | undefined;

/** Watch one job until it ends, on `options.connection` (default: one shared connection). */
export function watchJob<Result = unknown>(
  jobId: string, options: WatchOptions<Result> & { connection?: Connection } = {},
): Promise<TerminalEvent<Result>> {
  const connection = options.connection ?? (shared ??= connect());
  return new JobWatch<Result>(connection, jobId, options).done;
}

export interface Handlers {
  onProgress?: (progress: number, payload: ProgressEvent) => void;
  onOutput?: (text: string, payload: OutputEvent) => void;
  onLog?: (line: string, payload: LogEvent) => void;
  onCompleted?: (result: unknown, payload: CompletedEvent) => void;
  onFailed?: (reason: string, payload: FailedEvent) => void;
  onCancelled?: (payload: FailedEvent) => void;
  onRetrying?: (attempt: number, reason: string | null, payload: RetryingEvent) => void;
  onJoin?: (ack: JoinAck) => void;
}

export interface Watcher {
  readonly ready: Promise<JoinAck>;
  readonly progress: number;
  /** The last output chunk's and log line's seq received (-1: none). */
  readonly after: number;
  readonly logsAfter: number;
  readonly done: boolean;
  stop(): void;
}

/**
 * Join one job's room and call the handlers with that job's events (matched by job id; the
 * job's name tells the server which queue to read). `options.after`
 * and `options.logsAfter` skip what the page already has; `options.token` is a watch token.
 * Exactly one terminal callback, at most once.
 */
export function watch(client: Connection, jobName: string, jobId: string, handlers: Handlers = {},
                      options: Pick<WatchOptions, "after" | "logsAfter" | "token"> = {}): Watcher {
  const w = new JobWatch(client, jobId, {
    ...options,
    ...(typeof jobName === "string" && jobName ? { job: jobName } : {}),
    onProgress: (value, payload) => handlers.onProgress?.(value, payload),
    onOutput: (text, payload) => handlers.onOutput?.(text, payload),
    onLog: (line, payload) => handlers.onLog?.(line, payload),
    onRetrying: (payload) => handlers.onRetrying?.(payload.attempt, payload.reason, payload),
    onJoin: (ack) => handlers.onJoin?.(ack),
    onEnd: (end) => {
      if (end.state === "completed") handlers.onCompleted?.(end.result, end);
      else if (end.state === "cancelled" && handlers.onCancelled) handlers.onCancelled(end);
      else handlers.onFailed?.(end.reason, end);
    },
  });
  return {
    ready: w.ready,
    get progress() { return w.progress; },
    get after() { return w.after; },
    get logsAfter() { return w.logsAfter; },
    get done() { return w.ended; },
    stop: () => w.stop(),
  };
}

/** `POST /api/<job>` → `{jobId, watchToken?}`; rejects with a `JobcastHttpError` (`.status`,
 *  `.body`: the server's `{error, details?}`). */
export function start(jobName: string, data?: unknown,
                      options?: http.EnqueueOptions): Promise<EnqueueAnswer> {
  return http.enqueue(jobName, data ?? {}, based(options));
}

/** `GET /api/jobs/<id>` → the job's status; a 404 rejects. */
export function getJob(jobId: string, options?: http.ReadOptions): Promise<JobStatus> {
  return http.getJob(jobId, based(options));
}

/** `GET /api/jobs/<id>/output` → `{jobId, total, entries: [{seq, text}]}` after seq `after`. */
export function getOutput(jobId: string, after?: number | null,
                          options?: http.ReadOptions): Promise<Entries> {
  return http.getOutput(jobId, { ...based(options), ...(after == null ? {} : { after }) });
}

/** `DELETE /api/jobs/<id>` → the job's status after the cancel request. */
export function cancelJob(jobId: string, options?: http.HttpOptions): Promise<JobStatus> {
  return http.cancelJob(jobId, based(options));
}
