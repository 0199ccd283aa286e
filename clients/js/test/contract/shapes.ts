// Every shape of src/types.ts for the JSON Schema generator, the generic ones at their defaults.
export type * from "../../src/types";
import type { CompletedEvent, JobStatus, TerminalEvent } from "../../src/types";

export type Status = JobStatus;
export type Completed = CompletedEvent;
export type Terminal = TerminalEvent;
