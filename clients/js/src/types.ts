/**
 * The wire protocol's shapes, written once: the HTTP answers (checked against the server's
 * OpenAPI schema by test/contract.test.ts) and the Socket.IO events and acks (checked there
 * against what a real server sends).
 */

/** A job's state, as the server reports it (OpenAPI `JobState`). */
export type JobState = "waiting" | "delayed" | "active" | "completed" | "failed" | "cancelled";

/** The states a job ends in. */
export type TerminalState = "completed" | "failed" | "cancelled";

/** `POST /api/<job>` → 202 (OpenAPI `Accepted`). */
export interface EnqueueAnswer {
  /** The new job's id: 128 random bits. */
  jobId: string;
  /** Lets its holder watch this one job, read-only, until it expires; only when the server
   *  has a watch secret (`JOBCAST_WATCH_SECRET`; `jobcast up` makes one per run). */
  watchToken?: string | null;
}

/** `GET /api/jobs/<id>` and `DELETE /api/jobs/<id>` (OpenAPI `Status`). */
export interface JobStatus<Result = unknown> {
  jobId: string;
  /** The job's name (`report`), the prefix of its events' names. */
  job: string;
  state: JobState;
  /** 0–100. */
  progress: number;
  /** The handler's return value, once completed (else null). */
  result: Result | null;
  /** Why it failed or was cancelled, fit for a user (else null). */
  reason: string | null;
  attemptsMade: number;
  /** Milliseconds since the epoch. */
  createdAt: number | null;
  finishedAt: number | null;
  /** The handler's last progress message ("page 3 of 8"). */
  message: string | null;
  /** Seconds left at the job's pace so far (null while unknown). */
  eta: number | null;
  /** Output chunks written so far (the next one's seq). */
  output: number;
  /** Log lines written so far. */
  logs: number;
  /** On `DELETE`: the worker was asked to stop it and has not yet (a 202). */
  cancelRequested?: boolean | null;
}

/** One stored output chunk or log line (OpenAPI `Chunk`). */
export interface OutputEntry {
  seq: number;
  text: string;
}

/** `GET /api/jobs/<id>/output` and `/logs` (OpenAPI `Entries`). */
export interface Entries {
  jobId: string;
  /** How many entries the job has written in all. */
  total: number;
  entries: OutputEntry[];
}

/** One problem with an input, in a 422's `details`. */
export interface ErrorDetail {
  /** The field's path, dotted (`pages`, `items.0.name`). */
  field?: string;
  message?: string;
  [key: string]: unknown;
}

/** Every HTTP error's body (OpenAPI `ErrorBody`). */
export interface ErrorBody {
  error: string;
  details?: ErrorDetail[] | null;
}

// ---- Socket.IO: server → client ----------------------------------------------------------

/** `<job>:progress`: monotonic per watcher. */
export interface ProgressEvent {
  jobId: string;
  /** 0–100. */
  progress: number;
  /** Seconds left at the job's pace so far (null while unknown). */
  eta: number | null;
  message?: string;
}

/** `<job>:output`: each chunk once, in order, by `seq` (from 0). */
export interface OutputEvent {
  jobId: string;
  seq: number;
  text: string;
}

/** `<job>:log`: each line once, in order, by `seq`. */
export interface LogEvent {
  jobId: string;
  seq: number;
  line: string;
}

/** `<job>:retrying`: a new attempt starts (its progress starts again from 0). */
export interface RetryingEvent {
  jobId: string;
  /** The attempt about to run, from 2. */
  attempt: number;
  reason: string | null;
}

/** `<job>:completed`: exactly once per join. */
export interface CompletedEvent<Result = unknown> {
  jobId: string;
  result: Result;
  state: "completed";
}

/** `<job>:failed`: exactly once per join; `state` tells a cancel from a failure. */
export interface FailedEvent {
  jobId: string;
  /** A message fit for a user, never a traceback. */
  reason: string;
  state: "failed" | "cancelled";
}

/** How a watched job ended: what `watchJob` resolves with. */
export type TerminalEvent<Result = unknown> = CompletedEvent<Result> | FailedEvent;

/** The kinds of job events; the Socket.IO event is `<job name>:<kind>`. */
export type JobEventKind = "progress" | "output" | "log" | "retrying" | "completed" | "failed";

/** Each kind's payload. */
export interface JobEventPayloads<Result = unknown> {
  progress: ProgressEvent;
  output: OutputEvent;
  log: LogEvent;
  retrying: RetryingEvent;
  completed: CompletedEvent<Result>;
  failed: FailedEvent;
}

// ---- Socket.IO: client → server and the acks ---------------------------------------------

/** `joinRoom(jobId, options)`: what the watcher already has, and a watch token. */
export interface JoinOptions {
  /** The last output chunk's seq it has (-1: none). */
  after?: number;
  /** The last log line's seq it has (-1: none). */
  logsAfter?: number;
  /** A watch token (the enqueue answer's `watchToken`). */
  token?: string;
  /** The job's name (`report`), if known: the server then reads one queue, not all of them
   *  (a wrong name costs it a second look, never a wrong answer). */
  job?: string;
}

/** The join's ack when the socket is in the room (also the SSE stream's first `state` event).
 *  `unknown`: no such job yet (a producer may add it); its events come when it exists. */
export interface JoinAccepted {
  ok: true;
  state: JobState | "unknown";
  /** Output chunks written so far. */
  output: number;
  /** Log lines written so far. */
  logs: number;
}

/** A refused join. `retry`: the server is briefly unable (its Redis is away, or the socket
 *  joins too fast); the client joins again by itself. */
export interface JoinRefused {
  ok: false;
  error: string;
  retry?: boolean;
}

export type JoinAck = JoinAccepted | JoinRefused;

/** `cancel(jobId)`'s ack. */
export type CancelAck = { ok: true; state: JobState } | { ok: false; error: string; retry?: boolean };
