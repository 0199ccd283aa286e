import type { ErrorBody, ErrorDetail, JoinRefused } from "./types";

/** Every error this package throws or rejects with. */
export class JobcastError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = "JobcastError";
    if (options && "cause" in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The server answered with an error status; `body` is its JSON error (`{error, details?}`). */
export class JobcastHttpError extends JobcastError {
  /** The HTTP status: 404 unknown job, 422 invalid input, 429 rate-limited, 503 ... */
  readonly status: number;
  readonly body: ErrorBody;
  /** Seconds to wait before trying again, when the server said (429, 503). */
  readonly retryAfter: number | null;

  constructor(status: number, body: ErrorBody, retryAfter: number | null = null) {
    super(body.error);
    this.name = "JobcastHttpError";
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }

  /** A 422's field problems (`[{field, message}]`); empty for other errors. */
  get details(): ErrorDetail[] {
    return Array.isArray(this.body.details) ? this.body.details : [];
  }
}

/** The server could not be reached (or answered something that is not the protocol). */
export class JobcastNetworkError extends JobcastError {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = "JobcastNetworkError";
  }
}

/** The server refused to let this client watch the job: unknown (or not yours), a watch
 *  token that is forged, expired or for another job, or too many rooms. */
export class JobcastJoinError extends JobcastError {
  readonly jobId: string;
  readonly ack: JoinRefused;

  constructor(jobId: string, ack: JoinRefused) {
    super(ack.error);
    this.name = "JobcastJoinError";
    this.jobId = jobId;
    this.ack = ack;
  }
}
