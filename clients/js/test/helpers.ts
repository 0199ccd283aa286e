import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { inject } from "vitest";

import { connect, type Connection, type JoinOptions } from "../src/index";

export const serverUrl = (): string => inject("jobcastUrl");

/** A connection of its own to the test server, quick to reconnect. */
export function connectTo(options: { retryDelay?: number } = {}): Connection {
  return connect({
    ...options,
    url: serverUrl(),
    baseUrl: serverUrl(),
    ioOptions: { transports: ["websocket"], forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 200 },
  });
}

export interface SentJoin {
  jobId: string;
  options: JoinOptions;
  /** The server's answer (or the timeout), once it came. */
  ack?: unknown;
  /** Resolves with `ack` when it comes (a job's end can reach a watcher before it). */
  answered: Promise<unknown>;
}

/** Every `joinRoom` the connection sends, as it goes out on the socket, with its ack. */
export function recordJoins(connection: Connection): SentJoin[] {
  const joins: SentJoin[] = [];
  const socket = connection.socket;
  const emit = socket.emit.bind(socket);
  // (socket.timeout(ms) sets a flag and returns the socket itself: its emits come here too.)
  socket.emit = ((event: string, ...args: unknown[]) => {
    if (event === "joinRoom") {
      let answer!: (ack: unknown) => void;
      const answered = new Promise<unknown>((resolve) => (answer = resolve));
      const sent: SentJoin = { jobId: args[0] as string, options: args[1] as JoinOptions, answered };
      joins.push(sent);
      const ack = args[args.length - 1];
      // With socket.timeout(ms), the ack's first argument is the timeout error.
      const timed = (socket as unknown as { flags: { timeout?: number } }).flags.timeout !== undefined;
      if (typeof ack === "function") {
        args[args.length - 1] = (...reply: unknown[]) => {
          sent.ack = timed ? (reply[0] ? { timeout: true } : reply[1]) : reply[0];
          answer(sent.ack);
          (ack as (...a: unknown[]) => void)(...reply);
        };
      }
    }
    return emit(event, ...args);
  }) as typeof socket.emit;
  return joins;
}

/** Every raw event the socket receives for a job (before any client-side filtering). */
export function recordEvents(connection: Connection): Array<[string, { jobId?: string }]> {
  const events: Array<[string, { jobId?: string }]> = [];
  connection.socket.onAny((event: string, payload: { jobId?: string }) => events.push([event, payload]));
  return events;
}

export function connected(connection: Connection): Promise<void> {
  if (connection.connected) return Promise.resolve();
  return new Promise((resolve) => connection.socket.once("connect", () => resolve()));
}

/** Drop the transport under the socket (as a network blip does): socket.io reconnects. */
export async function dropAndReconnect(connection: Connection): Promise<void> {
  const back = new Promise<void>((resolve) => {
    connection.socket.once("disconnect", () => connection.socket.once("connect", () => resolve()));
  });
  connection.socket.io.engine.close();
  await back;
}

/** Resolves once `predicate()` holds, checked at each of the connection's events. */
export function when(connection: Connection, predicate: () => boolean): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve) => {
    const check = (): void => {
      if (!predicate()) return;
      connection.socket.offAny(check);
      resolve();
    };
    connection.socket.onAny(check);
  });
}

/** A file a test job waits for (the flaky job's `gate`): `open()` creates it. */
export function gate(): { path: string; open: () => void } {
  const path = join(mkdtempSync(join(tmpdir(), "jobcast-gate-")), "open");
  return { path, open: () => writeFileSync(path, "") };
}
