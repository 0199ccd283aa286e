import {
  JobWatch, type Connection, type JobcastError, type JobState, type JoinAck, type TerminalEvent,
} from "jobcast-client";

/** Where a watched job is, for a component: before the join answers it is "loading"; "idle"
 *  without a job id; "error" when the server refused to let this page watch it. */
export type JobViewState = "idle" | "loading" | "error" | "unknown" | JobState;

/** What `useJob` returns. */
export interface JobView<Result = unknown> {
  jobId: string | null;
  state: JobViewState;
  /** 0–100, monotonic within an attempt. */
  progress: number;
  /** The handler's last progress message ("page 3 of 8"). */
  message: string | null;
  /** Seconds left at the job's pace so far (null while unknown, or once it ended). */
  eta: number | null;
  /** The streamed output so far, in order, each chunk once. */
  output: string;
  /** Log lines so far. */
  logs: string[];
  /** The handler's return value, once completed. */
  result: Result | null;
  /** Why it failed or was cancelled. */
  reason: string | null;
  /** The attempt running (from 1; a retry makes it 2...). */
  attempt: number;
  /** Completed, failed or cancelled: nothing more will come. */
  done: boolean;
  /** Why the server refused the join (a `JobcastJoinError`), with state "error". */
  error: JobcastError | null;
}

const TERMINAL: ReadonlySet<JobViewState> = new Set(["completed", "failed", "cancelled"]);
const BEHIND_ACTIVE: ReadonlySet<JobViewState> = new Set(["loading", "waiting", "delayed", "unknown"]);

export const IDLE: JobView<never> = Object.freeze({
  jobId: null, state: "idle", progress: 0, message: null, eta: null, output: "", logs: [],
  result: null, reason: null, attempt: 1, done: false, error: null,
}) as JobView<never>;

export function loadingView<Result>(jobId: string): JobView<Result> {
  return { ...IDLE, jobId, state: "loading", logs: [] };
}

/**
 * One job's view, fed by one JobWatch: a snapshot that changes (a new object) at most once
 * per microtask, however many events a socket read brings.
 */
export class JobStore<Result = unknown> {
  readonly watch: JobWatch<Result>;
  private view: JobView<Result>;
  private draft: JobView<Result>;
  private readonly logs: string[] = [];
  private readonly listeners = new Set<() => void>();
  private scheduled = false;

  constructor(connection: Connection, jobId: string, token: string | undefined, job?: string) {
    this.view = this.draft = loadingView<Result>(jobId);
    this.watch = new JobWatch<Result>(connection, jobId, {
      ...(token ? { token } : {}),
      ...(job ? { job } : {}),
      onJoin: (ack) => this.joined(ack),
      onProgress: (progress, event) => this.update({
        progress,
        message: event.message ?? this.draft.message,
        eta: event.eta,
        ...(progress > 0 && BEHIND_ACTIVE.has(this.draft.state) ? { state: "active" } : {}),
      }),
      onOutput: (text) => this.update({ output: this.draft.output + text }),
      onLog: (line) => {
        this.logs.push(line);
        this.update({});
      },
      onRetrying: (event) => this.update({ attempt: event.attempt, progress: 0, eta: null }),
      onEnd: (end) => this.ended(end),
    });
    this.watch.done.catch((error: JobcastError) => {
      if (error?.name === "JobcastJoinError") this.update({ state: "error", error });
    });
  }

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  };

  readonly getSnapshot = (): JobView<Result> => this.view;

  stop(): void {
    this.watch.stop();
    this.listeners.clear();
  }

  private joined(ack: JoinAck): void {
    if (!ack.ok) return; // the refusal rejects `done`
    const now = this.draft.state;
    // Events the join released may be ahead of the state it read; they win.
    if (TERMINAL.has(now) || (now === "active" && (ack.state === "waiting" || ack.state === "delayed"))) return;
    this.update({ state: ack.state });
  }

  private ended(end: TerminalEvent<Result>): void {
    if (end.state === "completed") {
      this.update({ state: "completed", progress: 100, eta: null, result: end.result, done: true });
    } else {
      this.update({ state: end.state, eta: null, reason: end.reason, done: true });
    }
  }

  private update(change: Partial<JobView<Result>>): void {
    this.draft = { ...this.draft, ...change };
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.view = { ...this.draft, logs: this.logs.length === this.view.logs.length ? this.view.logs : this.logs.slice() };
      for (const listener of Array.from(this.listeners)) listener();
    });
  }
}

interface Shared {
  store: JobStore<unknown>;
  users: number;
  releasing: ReturnType<typeof setTimeout> | null;
}

const registry = new WeakMap<Connection, Map<string, Shared>>();

/**
 * The store of a job on a connection, shared by every component that shows it, so a job is
 * joined once however many components (or StrictMode's double mount) use it. Released stores
 * are stopped a tick later, unless acquired again meanwhile (StrictMode's unmount and remount).
 */
export function acquire<Result>(connection: Connection, jobId: string,
                                token: string | undefined,
                                job?: string): { store: JobStore<Result>; release: () => void } {
  let stores = registry.get(connection);
  if (!stores) registry.set(connection, (stores = new Map()));
  const key = `${jobId}\n${token ?? ""}`;
  let shared = stores.get(key);
  if (!shared) {
    shared = { store: new JobStore<unknown>(connection, jobId, token, job), users: 0, releasing: null };
    stores.set(key, shared);
  }
  const entry = shared;
  if (entry.releasing !== null) clearTimeout(entry.releasing);
  entry.releasing = null;
  entry.users += 1;
  let released = false;
  return {
    store: entry.store as JobStore<Result>,
    release: () => {
      if (released) return;
      released = true;
      entry.users -= 1;
      if (entry.users > 0) return;
      entry.releasing = setTimeout(() => {
        if (entry.users > 0 || stores?.get(key) !== entry) return;
        stores.delete(key);
        entry.store.stop();
      }, 0);
    },
  };
}
