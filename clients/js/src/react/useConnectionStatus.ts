import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import type { Connection, ConnectionStatus } from "jobcast-client";

import { useJobcastContext } from "./context";

/** The connection's status, for a "reconnecting..." badge ("connecting" on a server). */
export function useConnectionStatus(connection?: Connection): ConnectionStatus {
  const context = useJobcastContext();
  const [conn, setConn] = useState<Connection | null>(null);
  useEffect(() => {
    setConn(connection ?? context.connection());
  }, [connection, context]);
  const subscribe = useCallback((fn: () => void) => (conn ? conn.onStatus(fn) : () => undefined), [conn]);
  const get = useCallback((): ConnectionStatus => (conn ? conn.status : "connecting"), [conn]);
  return useSyncExternalStore(subscribe, get, () => "connecting");
}
