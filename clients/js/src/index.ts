/**
 * jobcast-client: watch jobcast jobs from a browser or Node.
 *
 *     import { connect, enqueue, watchJob } from "jobcast-client";
 *
 *     const { jobId } = await enqueue("report", { title: "Q3", pages: 20 });
 *     const end = await watchJob(jobId, { onProgress: (pct) => (bar.value = pct) });
 *     if (end.state === "completed") link.href = end.result.url;
 */
import { io } from "socket.io-client";

import { Connection, type ConnectOptions } from "./connection";
import { JobWatch, type WatchOptions } from "./watch";
import type { TerminalEvent } from "./types";

export * from "./types";
export * from "./errors";
export { cancelJob, enqueue, getJob, getLogs, getOutput, resultUrl } from "./http";
export type { EnqueueOptions, EntriesOptions, HttpOptions, ReadOptions } from "./http";
export { Connection, JobWatch };
export type {
  ConnectionStatus, ConnectOptions, EventArgs, IoFactory, JobEventListener, Position,
} from "./connection";
export type { WatchHandlers, WatchOptions } from "./watch";

/** Open one Socket.IO connection to jobcast (default: the page's origin, `/socket.io/`). */
export function connect(options: ConnectOptions = {}): Connection {
  return new Connection(options.io ?? io, options);
}

let shared: Connection | undefined;

/** The connection `watchJob` and the React hooks use when given none: one per page, opened
 *  on first use with `connect(options)` (options count only the first time). */
export function defaultConnection(options?: ConnectOptions): Connection {
  if (!shared) shared = connect(options);
  return shared;
}

export interface WatchJobOptions<Result = unknown> extends WatchOptions<Result> {
  /** The connection to watch on (default: `defaultConnection()`). */
  connection?: Connection;
}

/** Watch one job until it ends: resolves with its terminal event (`state` "completed" with
 *  `result`, or "failed" / "cancelled" with `reason`); rejects with a `JobcastJoinError` if
 *  the server refuses (unknown job, bad watch token), or the signal's reason when aborted. */
export function watchJob<Result = unknown>(jobId: string,
                                           options: WatchJobOptions<Result> = {}): Promise<TerminalEvent<Result>> {
  return new JobWatch<Result>(options.connection ?? defaultConnection(), jobId, options).done;
}
