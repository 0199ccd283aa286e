import { guard, seq, type Connection, type Position } from "./connection";
import { JobcastError, JobcastJoinError } from "./errors";
import type {
  CompletedEvent, FailedEvent, JobEventKind, JobEventPayloads, JoinAck, JoinOptions, LogEvent, OutputEvent,
  ProgressEvent, RetryingEvent, TerminalEvent,
} from "./types";

export interface WatchHandlers<Result = unknown> {
  /** Monotonic 0–100 (within an attempt); `event.message`, `event.eta` (seconds left).
   *  A completed job reports 100 last if it had not. */
  onProgress?: (progress: number, event: ProgressEvent) => void;
  /** Streamed output, each chunk once, in order, across reconnects. */
  onOutput?: (text: string, event: OutputEvent) => void;
  /** Log lines, each once, in order. */
  onLog?: (line: string, event: LogEvent) => void;
  /** A new attempt starts; its progress starts again from 0. */
  onRetrying?: (event: RetryingEvent) => void;
  /** The server's answer to the join (after a refusal with `retry`, the final one). */
  onJoin?: (ack: JoinAck) => void;
  /** The job ended: completed, failed or cancelled (exactly once). */
  onEnd?: (event: TerminalEvent<Result>) => void;
}

export interface WatchOptions<Result = unknown> extends WatchHandlers<Result> {
  /** A watch token (the enqueue answer's `watchToken`), for a page without the app's session. */
  token?: string;
  /** The job's name (`report`), if known: saves the server looking for it in every queue. */
  job?: string;
  /** The last output chunk's seq this page already has (kept across a reload, say): only
   *  later chunks come. */
  after?: number;
  /** The same for log lines. */
  logsAfter?: number;
  /** Stops the watch (it leaves the room; `done` rejects with the signal's reason). */
  signal?: AbortSignal;
}

/**
 * One job, watched on one connection: its events dispatched to the handlers, progress kept
 * monotonic, output and log entries each once and in order (the re-join after a reconnect says
 * which it has), exactly one end. `done` resolves with the terminal event; it rejects with a
 * `JobcastJoinError` if the server refuses the join, or with the abort reason after `stop()`.
 *
 * Example usage::
 *
 *     const watch = new JobWatch(connection, jobId, { onProgress: (p) => (bar.value = p) });
 *     const end = await watch.done;   // {state: "completed", result} or {state, reason}
 */
export class JobWatch<Result = unknown> {
  readonly jobId: string;
  /** The server's final answer to the join. */
  readonly ready: Promise<JoinAck>;
  readonly done: Promise<TerminalEvent<Result>>;
  private readonly connection: Connection;
  private readonly options: WatchOptions<Result>;
  private readonly position: Position;
  private readonly unsubscribe: () => void;
  private lastProgress = -1;
  private outputSeq: number;
  private logSeq: number;
  private finished = false;
  private stopped = false;
  private resolveDone!: (event: TerminalEvent<Result>) => void;
  private rejectDone!: (reason: unknown) => void;
  private readonly onAbort = (): void => this.stop(this.options.signal?.reason);

  constructor(connection: Connection, jobId: string, options: WatchOptions<Result> = {}) {
    this.connection = connection;
    this.jobId = jobId;
    this.options = options;
    this.outputSeq = seq(options.after);
    this.logSeq = seq(options.logsAfter);
    this.done = new Promise<TerminalEvent<Result>>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    this.done.catch(() => undefined); // a watch nobody awaits must not be an unhandled rejection
    this.position = () => {
      const at: JoinOptions = { after: this.outputSeq, logsAfter: this.logSeq };
      if (options.token) at.token = options.token;
      if (options.job) at.job = options.job;
      return at;
    };
    this.unsubscribe = connection.subscribe(jobId, (kind, payload) => this.handle(kind, payload));
    if (options.signal?.aborted) {
      this.ready = Promise.resolve({ ok: false, error: "aborted" });
      this.stop(options.signal.reason);
      return;
    }
    options.signal?.addEventListener("abort", this.onAbort, { once: true });
    this.ready = connection.join(jobId, this.position).then((ack) => {
      if (this.stopped) return ack;
      if (this.options.onJoin) guard(() => this.options.onJoin?.(ack));
      if (ack.ok !== true && !this.finished) {
        this.finish();
        this.rejectDone(new JobcastJoinError(jobId, ack));
      }
      return ack;
    });
  }

  /** The last progress reported (0 before any). */
  get progress(): number {
    return this.lastProgress < 0 ? 0 : this.lastProgress;
  }

  /** The last output chunk's seq received (-1: none). */
  get after(): number {
    return this.outputSeq;
  }

  /** The last log line's seq received (-1: none). */
  get logsAfter(): number {
    return this.logSeq;
  }

  /** The job's end arrived (or the join was refused). */
  get ended(): boolean {
    return this.finished;
  }

  /** Stop watching: leave the room (unless another watcher of the job holds it). */
  stop(reason?: unknown): void {
    if (this.stopped) return;
    this.stopped = true;
    const wasFinished = this.finished;
    this.finish();
    if (!wasFinished) {
      this.connection.release(this.jobId, this.position);
      this.rejectDone(reason ?? abortError());
    }
  }

  private handle<K extends JobEventKind>(kind: K, payload: JobEventPayloads<unknown>[K]): void {
    if (this.finished) return;
    const h = this.options;
    switch (kind) {
      case "progress": {
        const p = payload as ProgressEvent;
        const value = Math.max(0, Math.min(100, Number(p.progress)));
        if (!Number.isFinite(value) || value < this.lastProgress) return;
        this.lastProgress = value;
        h.onProgress?.(value, p);
        return;
      }
      case "output": {
        const p = payload as OutputEvent;
        if (typeof p.seq !== "number" || p.seq <= this.outputSeq) return;
        this.outputSeq = p.seq;
        h.onOutput?.(p.text, p);
        return;
      }
      case "log": {
        const p = payload as LogEvent;
        if (typeof p.seq !== "number" || p.seq <= this.logSeq) return;
        this.logSeq = p.seq;
        h.onLog?.(p.line, p);
        return;
      }
      case "retrying":
        this.lastProgress = -1; // a new attempt starts from 0 (the server resets its count too)
        h.onRetrying?.(payload as RetryingEvent);
        return;
      case "completed": {
        const p = payload as CompletedEvent<Result>;
        this.finish();
        if (this.lastProgress < 100) {
          this.lastProgress = 100;
          if (h.onProgress) guard(() => h.onProgress?.(100, { jobId: this.jobId, progress: 100, eta: 0 }));
        }
        this.end(p);
        return;
      }
      case "failed":
        this.finish();
        this.end(payload as FailedEvent);
        return;
    }
  }

  private end(event: TerminalEvent<Result>): void {
    if (this.options.onEnd) guard(() => this.options.onEnd?.(event));
    this.resolveDone(event);
  }

  /** No more events: the server has already let the socket leave the room. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.unsubscribe();
    this.options.signal?.removeEventListener("abort", this.onAbort);
  }
}

function abortError(): Error {
  if (typeof DOMException === "function") return new DOMException("the watch was stopped", "AbortError");
  const err = new JobcastError("the watch was stopped");
  err.name = "AbortError";
  return err;
}
