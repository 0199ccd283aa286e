/**
 * The types of src/types.ts, written once, against the server: the HTTP shapes against its
 * OpenAPI schema (GET /api/openapi.json), and every shape against what a real server sends
 * (HTTP answers, Socket.IO events and acks, the SSE stream), validated with no extra fields
 * allowed, so a field the server adds, drops or retypes fails here first.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

import Ajv, { type ValidateFunction } from "ajv";
import { createGenerator } from "ts-json-schema-generator";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

import {
  JobcastHttpError, JobWatch, cancelJob, enqueue, getJob, getLogs, getOutput, watchJob, type Connection,
} from "../src/index";
import { connectTo, connected, gate, recordJoins, serverUrl } from "./helpers";

type Schema = {
  $ref?: string; type?: string | string[]; enum?: unknown[]; const?: unknown; anyOf?: Schema[];
  properties?: Record<string, Schema>; required?: string[]; items?: Schema;
  additionalProperties?: boolean | Schema;
};

const generated = createGenerator({
  path: fileURLToPath(new URL("./contract/shapes.ts", import.meta.url)),
  tsconfig: fileURLToPath(new URL("../tsconfig.json", import.meta.url)),
  type: "*", expose: "export", topRef: true, jsDoc: "none", additionalProperties: false, skipTypeCheck: true,
}).createSchema("*") as { definitions: Record<string, Schema> };
const ours = generated.definitions;

/** OpenAPI component → the TypeScript type written for it. */
const PAIRS: Record<string, string> = {
  Accepted: "EnqueueAnswer", Status: "JobStatus", Entries: "Entries", Chunk: "OutputEntry",
  ErrorBody: "ErrorBody", JobState: "JobState",
};

/** A schema's JSON types, as a sorted list ("integer" is a number; no type at all is "any").
 *  A reference to a paired shape stays its (TypeScript) name; any other is looked into. */
type Resolve = (ref: string) => string | Schema;
function kinds(schema: Schema, resolve: Resolve): string[] {
  if (schema.$ref) {
    const target = resolve(schema.$ref);
    return typeof target === "string" ? [`ref:${target}`] : kinds(target, resolve);
  }
  if (schema.anyOf) {
    const union = [...new Set(schema.anyOf.flatMap((s) => kinds(s, resolve)))].sort();
    return union.includes("any") ? ["any"] : union; // `unknown | null` is any value
  }
  if (schema.type === undefined) return schema.const !== undefined ? [typeof schema.const] : ["any"];
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  return [...new Set(types.map((t) => {
    if (t === "integer") return "number";
    if (t === "array" && schema.items) return `array:${kinds(schema.items, resolve).join("|")}`;
    return t;
  }))].sort();
}

const PAIRED = new Set(Object.values(PAIRS));
const tsRef: Resolve = (ref) => {
  const name = ref.replace("#/definitions/", "");
  return PAIRED.has(name) ? name : (ours[name] ?? `missing:${name}`);
};

describe("the types match the server's OpenAPI schema", () => {
  let components: Record<string, Schema> = {};
  const openApiRef: Resolve = (ref) => {
    const name = ref.replace("#/components/schemas/", "");
    return PAIRS[name] ?? components[name] ?? `missing:${name}`;
  };
  beforeAll(async () => {
    const res = await fetch(`${serverUrl()}/api/openapi.json`);
    components = ((await res.json()) as { components: { schemas: Record<string, Schema> } }).components.schemas;
  });

  test.each(Object.entries(PAIRS))("OpenAPI %s is %s", (component, typeName) => {
    const theirs = components[component];
    const mine = ours[typeName];
    expect(theirs, `OpenAPI has no ${component}`).toBeDefined();
    expect(mine, `src/types.ts has no ${typeName}`).toBeDefined();
    if (!theirs || !mine) return;
    if (theirs.enum) {
      expect([...(mine.enum ?? [])].sort()).toEqual([...theirs.enum].sort());
      return;
    }
    const theirProps = theirs.properties ?? {};
    const myProps = mine.properties ?? {};
    expect(Object.keys(myProps).sort()).toEqual(Object.keys(theirProps).sort());
    // What the schema requires, the type requires (the type may require more: the live
    // answers below show the server always sends those).
    for (const name of theirs.required ?? []) expect(mine.required ?? [], name).toContain(name);
    for (const [name, schema] of Object.entries(theirProps)) {
      const mineProp = myProps[name];
      if (!mineProp) continue;
      expect(kinds(mineProp, tsRef), `${typeName}.${name}`).toEqual(kinds(schema, openApiRef));
    }
  });

  test("JoinAccepted's state is a JobState or 'unknown'", () => {
    expect(kinds(ours.JoinAccepted?.properties?.state ?? {}, tsRef)).toEqual(["ref:JobState", "string"]);
    expect(ours.JoinAccepted?.properties?.state?.anyOf?.[1]?.const).toBe("unknown");
  });
});

describe("what a real server sends fits the types exactly", () => {
  const ajv = new Ajv({ allErrors: true, strict: false });
  ajv.addSchema({ $id: "ours", definitions: ours });
  const validators = new Map<string, ValidateFunction>();
  const fits = (typeName: string, value: unknown): void => {
    let validate = validators.get(typeName);
    if (!validate) {
      validate = ajv.compile({ $ref: `ours#/definitions/${typeName}` });
      validators.set(typeName, validate);
    }
    const ok = validate(value);
    expect(ok, `${typeName}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(value)}`).toBe(true);
  };
  const EVENT_TYPES: Record<string, string> = {
    progress: "ProgressEvent", output: "OutputEvent", log: "LogEvent", retrying: "RetryingEvent",
    completed: "CompletedEvent", failed: "FailedEvent",
  };
  const http = () => ({ baseUrl: serverUrl() });
  let conn: Connection;
  const events: Array<[string, unknown]> = [];
  beforeAll(async () => {
    conn = connectTo();
    conn.socket.onAny((event: string, payload: unknown) => events.push([event, payload]));
    await connected(conn);
  });
  afterAll(() => conn.close());

  test("every Socket.IO event and ack of a report, a story, a failure, a retry and a cancel", async () => {
    const joins = recordJoins(conn);
    const report = await enqueue("report", { title: "Contract", pages: 2 }, http());
    const story = await enqueue("story", { prompt: "contract", words: 30, word_ms: 1 }, http());
    const failing = await enqueue("fail", {}, http());
    const door = gate();
    const flaky = await enqueue("flaky", { gate: door.path }, http());
    fits("EnqueueAnswer", report);
    expect(report.watchToken).toEqual(expect.any(String));
    const retried = new JobWatch(conn, flaky.jobId);
    await retried.ready;
    door.open(); // joined: now its first attempt fails, and `retrying` comes
    await Promise.all([report, story, failing].map((a) => watchJob(a.jobId, { connection: conn })));
    await retried.done;
    const long = await enqueue("bulk", { items: 1000, item_ms: 10 }, http());
    const watch = new JobWatch(conn, long.jobId);
    await watch.ready;
    const cancelAck = await conn.cancel(long.jobId);
    fits("CancelAck", cancelAck);
    await watch.done;
    // An unknown id, a malformed one, and a watch token for another job: the acks of refusals.
    const other = randomBytes(16).toString("base64url");
    await conn.joinRoom(other);
    conn.leaveRoom(other);
    await conn.joinRoom("not an id");
    await conn.joinRoom(story.jobId, { token: report.watchToken ?? "" });

    const kindsSeen = new Set<string>();
    for (const [event, payload] of events) {
      const kind = event.slice(event.lastIndexOf(":") + 1);
      const typeName = EVENT_TYPES[kind];
      expect(typeName, `an event the types do not know: ${event}`).toBeDefined();
      if (typeName) fits(typeName, payload);
      kindsSeen.add(kind);
    }
    expect([...kindsSeen].sort()).toEqual(Object.keys(EVENT_TYPES).sort());
    expect(events.some(([e, p]) => e === "bulk:failed" && (p as { state: string }).state === "cancelled")).toBe(true);
    expect(events.some(([e, p]) => e === "report:progress" && typeof (p as { message?: string }).message === "string")).toBe(true);
    const acks = await Promise.all(joins.map((j) => j.answered));
    for (const ack of acks) fits("JoinAck", ack);
    expect(acks).toContainEqual({ ok: true, state: "unknown", output: 0, logs: 0 });
    expect(acks).toContainEqual({ ok: false, error: "invalid job id" });
    expect(acks).toContainEqual({ ok: false, error: "the watch token is for another job" });
    expect(acks.filter((a) => (a as { ok: boolean }).ok)).not.toHaveLength(0);
  });

  test("every HTTP answer: statuses of each state, cancels, output, logs, errors", async () => {
    const report = await enqueue("report", { title: "Contract", pages: 2 }, http());
    const story = await enqueue("story", { prompt: "contract", words: 10, word_ms: 1 }, http());
    const failing = await enqueue("fail", {}, http());
    const waiting = await getJob(story.jobId, http());
    fits("JobStatus", waiting);
    await Promise.all([report, story, failing].map((a) => watchJob(a.jobId, { connection: conn })));
    for (const a of [report, story, failing]) fits("JobStatus", await getJob(a.jobId, http()));
    const output = await getOutput(story.jobId, http());
    fits("Entries", output);
    expect(output.entries.length).toBeGreaterThan(0);
    const logs = await getLogs(report.jobId, http());
    fits("Entries", logs);
    expect(logs.entries.length).toBe(2);

    const long = await enqueue("bulk", { items: 1000, item_ms: 10 }, http());
    await new Promise<void>((resolve) => new JobWatch(conn, long.jobId, { onProgress: (p) => p > 0 && resolve() }));
    const cancelled = await cancelJob(long.jobId, http());
    fits("JobStatus", cancelled);
    fits("JobStatus", await getJob(long.jobId, http()));

    const errors: unknown[] = [];
    for (const attempt of [
      () => enqueue("report", { pages: 0 }, http()),                      // 422
      () => enqueue("no-such-job", {}, http()),                           // 404
      () => getJob(randomBytes(16).toString("base64url"), http()),        // 404
      () => getJob(story.jobId, { ...http(), token: "forged" }),          // 403
    ]) {
      const err = await attempt().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(JobcastHttpError);
      errors.push((err as JobcastHttpError).body);
    }
    for (const [contentType, body] of [["application/json", "{not json"], ["text/plain", "{}"]]) {
      const res = await fetch(`${serverUrl()}/api/report`, { method: "POST", headers: { "content-type": contentType ?? "" }, body: body ?? "" });
      expect([400, 415]).toContain(res.status);
      errors.push(await res.json());
    }
    for (const body of errors) fits("ErrorBody", body);
    expect(errors[0]).toMatchObject({ details: expect.arrayContaining([expect.objectContaining({ field: "title" })]) });
  });

  test("the SSE stream: the join's ack first, then the same events as the socket", async () => {
    const story = await enqueue("story", { prompt: "sse", words: 12, word_ms: 1 }, http());
    await watchJob(story.jobId, { connection: conn });
    const text = await (await fetch(`${serverUrl()}/api/jobs/${story.jobId}/events`)).text();
    const frames = text.split("\n\n").filter((f) => f.includes("data:")).map((frame) => {
      const field = (name: string) => frame.split("\n").find((l) => l.startsWith(`${name}:`))?.slice(name.length + 1).trim();
      return { event: field("event") ?? "", data: JSON.parse(field("data") ?? "null") as unknown };
    });
    expect(frames[0]?.event).toBe("state");
    fits("JoinAccepted", frames[0]?.data);
    for (const { event, data } of frames.slice(1)) {
      const typeName = EVENT_TYPES[event.slice(event.lastIndexOf(":") + 1)];
      expect(typeName, event).toBeDefined();
      if (typeName) fits(typeName, data);
    }
    expect(frames.at(-1)?.event).toBe("story:completed");
  });
});
