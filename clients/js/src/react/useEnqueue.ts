import { useCallback, useEffect, useRef, useState } from "react";
import {
  JobcastError, JobcastNetworkError, enqueue as enqueueJob, type EnqueueAnswer, type EnqueueOptions,
} from "jobcast-client";

import { useJobcastContext } from "./context";

export interface UseEnqueue<Data> {
  /** Start the job with `data`. Resolves with `{jobId, watchToken?}`, or with null when it
   *  failed (then `error` says why): it never rejects, so it can be a click handler. */
  enqueue: (data: Data, options?: Pick<EnqueueOptions, "idempotencyKey" | "signal">) => Promise<EnqueueAnswer | null>;
  /** The last started job's id (null before). */
  jobId: string | null;
  /** Its watch token, when the server issues them. */
  watchToken: string | null;
  /** A request is on its way. */
  pending: boolean;
  /** Why the last request failed: a `JobcastHttpError` (`.status`, `.details` for a 422) or
   *  a `JobcastNetworkError`. */
  error: JobcastError | null;
  /** Forget the last job and error. */
  reset: () => void;
}

interface State {
  jobId: string | null;
  watchToken: string | null;
  pending: boolean;
  error: JobcastError | null;
}

const START: State = { jobId: null, watchToken: null, pending: false, error: null };

/**
 * Start jobs of one kind: `const { enqueue, jobId, pending, error } = useEnqueue("report")`.
 * Only the latest request's answer counts, if several overlap.
 */
export function useEnqueue<Data = unknown>(job: string,
                                           options: Omit<EnqueueOptions, "signal" | "idempotencyKey"> = {}): UseEnqueue<Data> {
  const context = useJobcastContext();
  const [state, setState] = useState<State>(START);
  const latest = useRef(0);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const { baseUrl, headers, credentials, fetch } = options;

  const enqueue = useCallback(async (data: Data,
                                     extra: Pick<EnqueueOptions, "idempotencyKey" | "signal"> = {}) => {
    const request = ++latest.current;
    setState((s) => ({ ...s, pending: true, error: null }));
    const settle = (next: State): void => {
      if (mounted.current && request === latest.current) setState(next);
    };
    try {
      const answer = await enqueueJob(job, data, {
        ...context.http,
        ...(baseUrl !== undefined ? { baseUrl } : {}),
        ...(headers !== undefined ? { headers: { ...context.http.headers, ...headers } } : {}),
        ...(credentials !== undefined ? { credentials } : {}),
        ...(fetch !== undefined ? { fetch } : {}),
        ...extra,
      });
      settle({ jobId: answer.jobId, watchToken: answer.watchToken ?? null, pending: false, error: null });
      return answer;
    } catch (err) {
      const error = err instanceof JobcastError ? err
        : new JobcastNetworkError((err as Error)?.message ?? String(err), err);
      settle({ ...START, pending: false, error });
      return null;
    }
  }, [job, context, baseUrl, headers, credentials, fetch]);

  const reset = useCallback(() => {
    latest.current += 1;
    setState(START);
  }, []);

  return { ...state, enqueue, reset };
}
