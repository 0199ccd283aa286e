import type { ManagerOptions, Socket, SocketOptions } from "socket.io-client";

import { cancelJob, type HttpOptions } from "./http";
import type {
  CancelAck, JobEventKind, JobEventPayloads, JoinAck, JoinOptions, JoinRefused,
} from "./types";

/** socket.io-client's `io` (the package's, or the global one of its browser build). */
export interface IoFactory {
  (options?: Partial<ManagerOptions & SocketOptions>): Socket;
  (uri: string, options?: Partial<ManagerOptions & SocketOptions>): Socket;
}

export interface ConnectOptions {
  /** The server's origin (default: the page's own, as through Next's rewrites or a proxy). */
  url?: string;
  /** The Socket.IO path (default `<baseUrl>/socket.io/`). */
  path?: string;
  /** Where jobcast is mounted ("" or "/jobs"; an absolute URL works for HTTP). Used for the
   *  default `path` and for the HTTP fallback of `cancel`. */
  baseUrl?: string;
  /** Socket.IO's handshake `auth` (seen by the server on connect). */
  auth?: SocketOptions["auth"];
  /** More socket.io-client options (`transports`, `withCredentials`, reconnection delays...). */
  ioOptions?: Partial<ManagerOptions & SocketOptions>;
  /** The `io` function to use (default: socket.io-client's; the script build: the global). */
  io?: IoFactory;
  /** How long to wait for a `joinRoom` or `cancel` ack while connected, in ms (10000). */
  ackTimeout?: number;
  /** How long to wait before joining again after a `retry: true` refusal, in ms (2000). */
  retryDelay?: number;
}

/** The connection's state, for a "reconnecting..." badge. */
export type ConnectionStatus = "connecting" | "connected" | "reconnecting" | "disconnected";

/** What a watcher has of a job's output and log (and its watch token), asked again at each
 *  re-join after a reconnect, so the server sends only what it lacks. */
export type Position = () => JoinOptions;

/** Arguments of a socket event: job events (`report:progress` ...) have their typed payload. */
export type EventArgs<E extends string> =
  E extends `${string}:${infer K}` ? K extends JobEventKind ? [JobEventPayloads[K]] : unknown[]
    : unknown[];

/** A job event for `subscribe` listeners: its kind, payload and full name (`report:output`). */
export type JobEventListener = <K extends JobEventKind>(kind: K, payload: JobEventPayloads[K],
                                                        event: string) => void;

// socket.io-client's own listener type for events it does not know.
type UntypedListener = (...args: any[]) => void; // eslint-disable-line @typescript-eslint/no-explicit-any
interface Untyped {
  on(event: string, listener: UntypedListener): unknown;
  once(event: string, listener: UntypedListener): unknown;
  off(event: string, listener?: UntypedListener): unknown;
}

const KINDS: ReadonlySet<string> = new Set<JobEventKind>(
  ["progress", "output", "log", "retrying", "completed", "failed"]);

interface Room {
  /** The connection (count) on which its last joinRoom went out; -1: to send. */
  joinedOn: number;
  waiters: Array<(ack: JoinAck) => void>;
  /** Its terminal event came while a join was pending: forget it once the ack is in. */
  terminal: boolean;
  /** Joined by `joinRoom` (not only by watchers): only `leaveRoom` leaves it. */
  explicit: boolean;
  positions: Set<Position>;
}

/**
 * One Socket.IO connection to jobcast: the seed's `useSocket` surface (`joinRoom`,
 * `leaveRoom`, `on`, `once`, `off`, `emit`), plus what a page needs to survive a reconnect:
 * every room is joined again, saying which output and log entries it has, and a join the server
 * asks to retry is retried.
 */
export class Connection {
  readonly socket: Socket;
  private readonly ackTimeout: number;
  private readonly retryDelay: number;
  private readonly http: HttpOptions;
  private readonly roomsById = new Map<string, Room>();
  private readonly listeners = new Map<string, Set<JobEventListener>>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  /** The listeners added with `on`/`once`, by event: what `off(event)` removes. */
  private readonly userListeners = new Map<string, Set<UntypedListener>>();
  private currentStatus: ConnectionStatus;
  /** How many times the socket connected (each re-join is tagged with it). */
  private connections = 0;

  constructor(io: IoFactory, options: ConnectOptions = {}) {
    const base = (options.baseUrl ?? "").replace(/\/+$/, "");
    // An absolute baseUrl ("http://host:8000/jobs") says the origin and the mount point.
    const mount = isAbsolute(base) ? new URL(base) : null;
    const url = options.url ?? mount?.origin;
    const ioOptions: Partial<ManagerOptions & SocketOptions> = {
      path: options.path ?? `${mount ? mount.pathname.replace(/\/+$/, "") : base}/socket.io/`,
      ...options.ioOptions,
    };
    if (options.auth !== undefined) ioOptions.auth = options.auth;
    this.socket = url ? io(url, ioOptions) : io(ioOptions);
    this.ackTimeout = options.ackTimeout ?? 10000;
    this.retryDelay = options.retryDelay ?? 2000;
    this.http = { baseUrl: base };
    this.currentStatus = this.socket.connected ? "connected" : "connecting";
    this.trackStatus();
    this.socket.on("connect", () => {
      this.connections += 1;
      for (const [jobId, room] of this.roomsById) {
        if (room.joinedOn !== this.connections) this.send(jobId);
      }
    });
    this.socket.onAny((event: string, payload: unknown) => this.dispatch(event, payload));
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  get status(): ConnectionStatus {
    return this.currentStatus;
  }

  /** The rooms this connection is in (or joining), by job id. */
  get rooms(): string[] {
    return Array.from(this.roomsById.keys());
  }

  /**
   * Join a job's room. Resolves with the server's answer: `{ok: true, state, output, logs}`,
   * or `{ok: false, error}` for a refusal (a `retry: true` refusal is retried by itself, and the
   * promise waits for the outcome). The room is joined again after every reconnect until its
   * terminal event, a refusal or `leaveRoom`. `options`: what this page has of the job's output
   * and log, and a watch token; a function is asked again at each re-join.
   */
  joinRoom(jobId: string, options?: JoinOptions | Position): Promise<JoinAck> {
    const position = typeof options === "function" ? options
      : options !== undefined ? () => options : undefined;
    return this.join(jobId, position, true);
  }

  /** Leave a job's room (and stop re-joining it). */
  leaveRoom(jobId: string): void {
    const room = this.roomsById.get(jobId);
    this.roomsById.delete(jobId);
    if (room) for (const resolve of room.waiters) resolve({ ok: false, error: "left" });
    if (this.socket.connected) this.socket.emit("leaveRoom", jobId);
  }

  /** Cancel a job: over the socket when connected, else (or with no answer) over HTTP. */
  cancel(jobId: string): Promise<CancelAck> {
    const overHttp = (): Promise<CancelAck> => cancelJob(jobId, this.http).then(
      (status) => ({ ok: true as const, state: status.state }),
      (err: Error) => ({ ok: false as const, error: err.message }));
    if (!this.socket.connected) return overHttp();
    return new Promise((resolve) => {
      this.socket.timeout(this.ackTimeout).emit("cancel", jobId, (err: Error | null, ack: CancelAck) => {
        if (err) overHttp().then(resolve);
        else resolve(ack);
      });
    });
  }

  /** Listen to a socket event; job events (`report:progress` ...) have typed payloads. */
  on<E extends string>(event: E, listener: (...args: EventArgs<E>) => void): this {
    this.track(event, listener);
    (this.socket as unknown as Untyped).on(event, listener);
    return this;
  }

  once<E extends string>(event: E, listener: (...args: EventArgs<E>) => void): this {
    this.track(event, listener);
    (this.socket as unknown as Untyped).once(event, listener);
    return this;
  }

  /** Stop listening: one listener, or every listener of the event added with `on`/`once`
   *  (never the connection's own: `off("connect")` must not stop the re-joins). */
  off<E extends string>(event: E, listener?: (...args: EventArgs<E>) => void): this {
    const socket = this.socket as unknown as Untyped;
    const mine = this.userListeners.get(event);
    if (listener) {
      mine?.delete(listener as UntypedListener);
      socket.off(event, listener);
    } else if (mine) {
      for (const fn of mine) socket.off(event, fn);
      this.userListeners.delete(event);
    }
    return this;
  }

  emit(event: string, ...args: unknown[]): this {
    this.socket.emit(event, ...args);
    return this;
  }

  /** One job's events, whatever the job's name: `listener(kind, payload, eventName)`.
   *  Returns the function that stops it. Joining is separate (`joinRoom`, or `watchJob`). */
  subscribe(jobId: string, listener: JobEventListener): () => void {
    let set = this.listeners.get(jobId);
    if (!set) this.listeners.set(jobId, (set = new Set()));
    set.add(listener);
    return () => {
      const current = this.listeners.get(jobId);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(jobId);
    };
  }

  /** `fn(status)` at each change: "connecting", "connected", "reconnecting", "disconnected".
   *  Returns the function that stops it. */
  onStatus(fn: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(fn);
    return () => {
      this.statusListeners.delete(fn);
    };
  }

  /** Disconnect for good; pending joins answer `{ok: false, error: "closed"}`. */
  close(): void {
    const rooms = Array.from(this.roomsById.values());
    this.roomsById.clear();
    for (const room of rooms) for (const resolve of room.waiters) resolve({ ok: false, error: "closed" });
    this.socket.disconnect();
  }

  // ---- for watchers (JobWatch) ----------------------------------------------------------

  /** @internal Join as one of the job's watchers (its position joins the room's). */
  join(jobId: string, position: Position | undefined, explicit = false): Promise<JoinAck> {
    return new Promise((resolve) => {
      if (typeof jobId !== "string" || jobId === "") {
        resolve({ ok: false, error: "invalid job id" });
        return;
      }
      let room = this.roomsById.get(jobId);
      if (!room) {
        room = { joinedOn: -1, waiters: [], terminal: false, explicit: false, positions: new Set() };
        this.roomsById.set(jobId, room);
      }
      if (position) room.positions.add(position);
      room.explicit ||= explicit;
      room.waiters.push(resolve);
      room.terminal = false;
      room.joinedOn = -1; // an explicit join always reaches the server
      this.send(jobId);
    });
  }

  /** @internal A watcher is done with the room: leave it when nobody else holds it. */
  release(jobId: string, position: Position): void {
    const room = this.roomsById.get(jobId);
    if (!room) return;
    room.positions.delete(position);
    if (room.positions.size === 0 && !room.explicit) this.leaveRoom(jobId);
  }

  // ---- internals --------------------------------------------------------------------------

  private track(event: string, listener: unknown): void {
    let set = this.userListeners.get(event);
    if (!set) this.userListeners.set(event, (set = new Set()));
    set.add(listener as UntypedListener);
  }

  private send(jobId: string): void {
    const room = this.roomsById.get(jobId);
    if (!room || !this.socket.connected) return; // joined on the next `connect`
    const conn = (room.joinedOn = this.connections);
    const retry = (): void => {
      setTimeout(() => {
        if (this.roomsById.get(jobId) === room && conn === this.connections) this.send(jobId);
      }, this.retryDelay);
    };
    this.socket.timeout(this.ackTimeout).emit("joinRoom", jobId, position(room),
      (err: Error | null, ack: unknown) => {
        if (this.roomsById.get(jobId) !== room) return; // left meanwhile
        if (err) {
          // No answer in time: if the connection dropped meanwhile, the re-join answers;
          // otherwise ask again (the server serializes one socket's joins of a job).
          if (this.socket.connected && conn === this.connections) retry();
          return;
        }
        const answer: JoinAck = isAck(ack) ? ack : { ok: false, error: "bad ack" };
        if (answer.ok !== true && answer.retry) {
          retry();
          return;
        }
        this.settle(jobId, room, answer);
      });
  }

  private settle(jobId: string, room: Room, ack: JoinAck): void {
    const waiters = room.waiters;
    room.waiters = [];
    // Refused for good, or its terminal event already came: do not join it again later.
    if (ack.ok !== true || room.terminal) this.roomsById.delete(jobId);
    for (const resolve of waiters) resolve(ack);
  }

  private dispatch(event: string, payload: unknown): void {
    const at = event.lastIndexOf(":");
    const kind = at > 0 ? event.slice(at + 1) : "";
    if (!KINDS.has(kind) || !payload || typeof (payload as { jobId?: unknown }).jobId !== "string") return;
    const jobId = (payload as { jobId: string }).jobId;
    const set = this.listeners.get(jobId);
    if (set) {
      for (const listener of Array.from(set)) {
        guard(() => listener(kind as JobEventKind, payload as JobEventPayloads[JobEventKind], event));
      }
    }
    if (kind === "completed" || kind === "failed") {
      // The server lets the socket leave the room after the end: forget it.
      const room = this.roomsById.get(jobId);
      if (!room) return;
      if (room.waiters.length === 0) this.roomsById.delete(jobId);
      else room.terminal = true; // forgotten once the pending ack arrives
    }
  }

  private trackStatus(): void {
    const set = (next: ConnectionStatus): void => {
      if (next === this.currentStatus) return;
      this.currentStatus = next;
      for (const fn of Array.from(this.statusListeners)) guard(() => fn(next));
    };
    const socket = this.socket;
    socket.on("connect", () => set("connected"));
    socket.on("disconnect", (reason: string) => {
      set(reason === "io client disconnect" ? "disconnected" : "reconnecting");
      // The server closed the socket on purpose; socket.io does not retry by itself.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", () => set(socket.active ? "reconnecting" : "disconnected"));
    socket.io.on("reconnect_attempt", () => set("reconnecting"));
    socket.io.on("reconnect_failed", () => set("disconnected"));
  }
}

/** What the socket has of the job's output and log: the least any of its watchers has (each
 *  watcher drops what it already has, so more is harmless and less would be a loss). */
function position(room: Room): JoinOptions {
  let after = Infinity;
  let logsAfter = Infinity;
  let token: string | undefined;
  let job: string | undefined;
  for (const fn of room.positions) {
    const p = fn();
    after = Math.min(after, seq(p.after));
    logsAfter = Math.min(logsAfter, seq(p.logsAfter));
    if (p.token) token = p.token;
    if (p.job) job = p.job;
  }
  const at: JoinOptions = {
    after: after === Infinity ? -1 : after,
    logsAfter: logsAfter === Infinity ? -1 : logsAfter,
  };
  if (token !== undefined) at.token = token;
  if (job !== undefined) at.job = job;
  return at;
}

export function seq(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) && value >= -1 ? Math.floor(value) : -1;
}

function isAck(value: unknown): value is JoinAck {
  return typeof value === "object" && value !== null && typeof (value as JoinAck).ok === "boolean"
    && ((value as JoinAck).ok || typeof (value as JoinRefused).error === "string");
}

function isAbsolute(base: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(base);
}

/** Run a listener; its exception surfaces on its own, without stopping the others. */
export function guard(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    setTimeout(() => {
      throw err;
    });
  }
}
