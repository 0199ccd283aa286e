// @vitest-environment node
/** The hooks render on a server (a Next.js client component's first render): no DOM, no
 *  socket; the page hydrates and connects in the browser. */
import { renderToString } from "react-dom/server";
import { expect, test } from "vitest";

import type { IoFactory } from "../src/index";
import { JobcastProvider, useConnectionStatus, useEnqueue, useJob } from "../src/react/index";

test("useJob, useEnqueue and useConnectionStatus render on a server without opening a socket", () => {
  expect(typeof window).toBe("undefined");
  let opened = 0;
  const io = (() => {
    opened += 1;
    throw new Error("a socket opened on the server");
  }) as unknown as IoFactory;
  function Page() {
    const job = useJob("some-job-id");
    const idle = useJob(null);
    const start = useEnqueue("report");
    const status = useConnectionStatus();
    return <p>{`${job.state} ${job.progress} ${idle.state} ${String(start.pending)} ${status}`}</p>;
  }
  const html = renderToString(<JobcastProvider connectOptions={{ io }}><Page /></JobcastProvider>);
  expect(html).toBe("<p>loading 0 idle false connecting</p>");
  expect(opened).toBe(0);
});
