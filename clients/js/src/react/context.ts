import { createContext, createElement, useContext, useEffect, useRef, type ReactNode } from "react";
import {
  connect, defaultConnection, type ConnectOptions, type Connection, type HttpOptions,
} from "jobcast-client";

interface JobcastContextValue {
  /** The connection the hooks use, opened on first use (in an effect: never on a server). */
  connection: () => Connection;
  http: HttpOptions;
}

const fallback: JobcastContextValue = { connection: () => defaultConnection(), http: {} };
const JobcastContext = createContext<JobcastContextValue>(fallback);

export interface JobcastProviderProps {
  children?: ReactNode;
  /** A connection of yours (from `connect()`, made on the client). */
  connection?: Connection;
  /** Or the options of the one to open for these components (on first use). */
  connectOptions?: ConnectOptions;
  /** Where jobcast is mounted for HTTP (`useEnqueue`), and for the socket's default path. */
  baseUrl?: string;
  /** Extra headers for `useEnqueue`'s requests (your app's auth, say). */
  headers?: Record<string, string>;
}

/**
 * Optional: without it the hooks use one connection to the page's own origin (right behind
 * Next's rewrites or a proxy) and HTTP at "/api/...".
 */
export function JobcastProvider(props: JobcastProviderProps): ReactNode {
  const opened = useRef<Connection | null>(null);
  const closing = useRef<ReturnType<typeof setTimeout> | null>(null);
  const value = useRef<JobcastContextValue | null>(null);
  const { connection, connectOptions, baseUrl, headers } = props;
  const http: HttpOptions = {};
  if (baseUrl !== undefined) http.baseUrl = baseUrl;
  if (headers !== undefined) http.headers = headers;
  const current = value.current;
  if (!current || current.http.baseUrl !== http.baseUrl || current.http.headers !== http.headers
      || (connection && current.connection() !== connection)) {
    value.current = {
      connection: () => connection ?? (opened.current ??= connect({
        ...connectOptions, ...(baseUrl !== undefined ? { baseUrl } : {}),
      })),
      http,
    };
  }
  // The connection this provider opened is its own: closed when it unmounts (a route's layout
  // left, say), else every visit would leave a socket open. A tick later, so that StrictMode's
  // unmount-and-mount keeps it (as the hooks keep their joins).
  useEffect(() => {
    if (closing.current !== null) clearTimeout(closing.current);
    closing.current = null;
    return () => {
      closing.current = setTimeout(() => {
        closing.current = null;
        opened.current?.close();
        opened.current = null;
      }, 0);
    };
  }, []);
  return createElement(JobcastContext.Provider, { value: value.current as JobcastContextValue },
                       props.children);
}

export function useJobcastContext(): JobcastContextValue {
  return useContext(JobcastContext);
}
