import { useCallback, useEffect, useMemo, useState, useSyncExternalStore } from "react";
import type { Connection } from "jobcast-client";

import { useJobcastContext } from "./context";
import { IDLE, acquire, loadingView, type JobStore, type JobView } from "./store";

export interface UseJobOptions {
  /** A watch token (the enqueue answer's `watchToken`), for a page without the app's session. */
  token?: string | null;
  /** The job's name (`report`), if known: the server then reads one queue, not every one. */
  job?: string;
  /** The connection to use (default: the provider's, or one to the page's origin). */
  connection?: Connection;
}

const noSubscription = (): (() => void) => () => undefined;

/**
 * Follow one job: its state, progress, message, time left, streamed output, and its result or
 * reason. Joins the job's room once (also under StrictMode's double mount, and however many
 * components show the same job), leaves it on unmount, stops after the job's end, and after a
 * reconnect gets exactly what it missed. With no `jobId` it is "idle". Safe to render on a
 * server (Next.js): the socket opens in an effect, on the client.
 *
 *     const { state, progress, output, result, error } = useJob(jobId);
 */
export function useJob<Result = unknown>(jobId: string | null | undefined,
                                         options: UseJobOptions = {}): JobView<Result> {
  const context = useJobcastContext();
  const token = options.token ?? undefined;
  const job = options.job;
  const explicit = options.connection;
  const [store, setStore] = useState<JobStore<Result> | null>(null);

  useEffect(() => {
    if (!jobId) {
      setStore(null);
      return undefined;
    }
    const held = acquire<Result>(explicit ?? context.connection(), jobId, token, job);
    setStore(held.store);
    return held.release;
  }, [jobId, token, job, explicit, context]);

  const initial = useMemo<JobView<Result>>(() => (jobId ? loadingView<Result>(jobId) : IDLE), [jobId]);
  // Until the effect has run for this job id (first render, or the id just changed), the
  // store in state is another job's (or none): show this job as loading.
  const live = store !== null && store.watch.jobId === jobId ? store : null;
  const subscribe = live ? live.subscribe : noSubscription;
  const getSnapshot = useCallback(() => (live ? live.getSnapshot() : initial), [live, initial]);
  const getServerSnapshot = useCallback(() => initial, [initial]);
  return useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);
}
