import { JobcastHttpError, JobcastNetworkError } from "./errors";
import type { EnqueueAnswer, Entries, ErrorBody, JobStatus } from "./types";

/** Where and how to reach jobcast's HTTP API. */
export interface HttpOptions {
  /** Where jobcast is mounted: "" (the default) for the page's own origin, a path prefix
   *  ("/jobs"), or an absolute URL ("http://127.0.0.1:8000"; needed under Node). */
  baseUrl?: string;
  /** Extra request headers (your app's auth, say). */
  headers?: Record<string, string>;
  credentials?: RequestCredentials;
  signal?: AbortSignal;
  /** A fetch of your own (default: the global one). */
  fetch?: typeof fetch;
}

export interface EnqueueOptions extends HttpOptions {
  /** A retry with the same key and input answers the first job's id instead of starting the
   *  work twice (the same key with another input is a 409). */
  idempotencyKey?: string;
}

export interface ReadOptions extends HttpOptions {
  /** A watch token (the enqueue answer's `watchToken`), for a page without the app's session. */
  token?: string;
}

export interface EntriesOptions extends ReadOptions {
  /** Only the entries after this seq (-1, the default: all). */
  after?: number;
}

/** Start a job: `POST /api/<job>` with `data` as JSON. Resolves with `{jobId, watchToken?}`;
 *  rejects with a `JobcastHttpError` carrying the server's JSON error (422: `.details`). */
export function enqueue<Data = unknown>(job: string, data: Data,
                                        options: EnqueueOptions = {}): Promise<EnqueueAnswer> {
  const headers: Record<string, string> = {};
  if (options.idempotencyKey !== undefined) headers["Idempotency-Key"] = options.idempotencyKey;
  return request<EnqueueAnswer>("POST", `/api/${encodeURIComponent(job)}`, options,
                                data === undefined ? {} : data, headers);
}

/** A job's status (`GET /api/jobs/<id>`): the polling fallback and what a reload reads. */
export function getJob<Result = unknown>(jobId: string,
                                         options: ReadOptions = {}): Promise<JobStatus<Result>> {
  return request("GET", jobPath(jobId, "", { token: options.token }), options);
}

/** A job's stored output (`GET /api/jobs/<id>/output`), after `options.after`. */
export function getOutput(jobId: string, options: EntriesOptions = {}): Promise<Entries> {
  return request("GET", jobPath(jobId, "/output", { after: options.after, token: options.token }),
                 options);
}

/** A job's log lines (`GET /api/jobs/<id>/logs`), after `options.after`. */
export function getLogs(jobId: string, options: EntriesOptions = {}): Promise<Entries> {
  return request("GET", jobPath(jobId, "/logs", { after: options.after, token: options.token }),
                 options);
}

/** Cancel a job (`DELETE /api/jobs/<id>`): its status after the request
 *  (`cancelRequested: true` while its worker has not stopped it yet). */
export function cancelJob(jobId: string, options: HttpOptions = {}): Promise<JobStatus> {
  return request("DELETE", jobPath(jobId, ""), options);
}

/** Where a job's result file is (`/api/jobs/<id>/result`), for a link or a download. */
export function resultUrl(jobId: string, options: Pick<ReadOptions, "baseUrl" | "token"> = {}): string {
  return apiBase(options.baseUrl) + jobPath(jobId, "/result", { token: options.token });
}

// ---- internals ----------------------------------------------------------------------------

export function apiBase(baseUrl: string | undefined): string {
  return (baseUrl ?? "").replace(/\/+$/, "");
}

function jobPath(jobId: string, tail: string,
                 query: Record<string, string | number | undefined> = {}): string {
  const params = Object.entries(query)
    .filter((kv): kv is [string, string | number] => kv[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return `/api/jobs/${encodeURIComponent(jobId)}${tail}${params.length ? `?${params.join("&")}` : ""}`;
}

async function request<T>(method: string, path: string, options: HttpOptions, payload?: unknown,
                          extraHeaders: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers,
                                            ...extraHeaders };
  const init: RequestInit = { method, headers };
  if (payload !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(payload);
  }
  if (options.credentials !== undefined) init.credentials = options.credentials;
  if (options.signal !== undefined) init.signal = options.signal;
  const fetchFn = options.fetch ?? globalThis.fetch;
  const url = apiBase(options.baseUrl) + path;
  let response: Response;
  let text: string;
  try {
    response = await fetchFn(url, init);
    text = await response.text();
  } catch (err) {
    if (options.signal?.aborted) throw err; // the caller's own abort, as fetch reports it
    throw new JobcastNetworkError(`${method} ${url}: ${(err as Error)?.message ?? String(err)}`, err);
  }
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  if (!response.ok) {
    throw new JobcastHttpError(response.status, errorBody(response, body, text),
                               retryAfter(response.headers.get("retry-after")));
  }
  if (body === undefined || body === null || typeof body !== "object") {
    throw new JobcastNetworkError(`${method} ${url}: the answer is not a JSON object`);
  }
  return body as T;
}

function errorBody(response: Response, body: unknown, text: string): ErrorBody {
  if (body && typeof body === "object" && typeof (body as ErrorBody).error === "string") {
    return body as ErrorBody;
  }
  // Not jobcast's JSON error (a proxy's page, say): its text, or the status line.
  const error = body === undefined && text ? text.slice(0, 500)
    : `${response.status} ${response.statusText}`.trim();
  return { error };
}

function retryAfter(header: string | null): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}
