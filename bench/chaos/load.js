#!/usr/bin/env node
// The chaos soak's load: browser-like users through nginx, each one Socket.IO connection (the
// shipped src/jobcast/browser/jobcast.js, which re-joins its rooms after every reconnect) running
// one job after another. A POST that fails (a web killed, Redis restarting) is retried with the
// same Idempotency-Key, as a careful client does, so retries never start the work twice.
//
//   node bench/chaos/load.js --url http://127.0.0.1:8080 --vus 20 --seconds 60 [--settle 90]
//
// It counts every terminal event the sockets receive, per job (raw, below the client's own
// once-only guard), and prints one JSON line at the end: jobs, lost (no terminal event),
// duplicates (more than one), post retries, and the job ids (for the caller's Redis checks).
'use strict';

const path = require('path');
const crypto = require('crypto');
const { io } = require(path.join(__dirname, '..', '..', 'node_modules', 'socket.io-client'));
const jobcast = require(path.join(__dirname, '..', '..', 'src', 'jobcast', 'browser', 'jobcast.js'));

const opts = { url: '', vus: 20, seconds: 60, settle: 90, items: 20, itemMs: 25 };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase());
  opts[key] = key === 'url' ? process.argv[i + 1] : Number(process.argv[i + 1]);
}
const stats = { jobs: 0, postRetries: 0, postFailed: 0, reconnects: 0 };
const terminal = new Map(); // jobId -> count of terminal events received
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function post(key) {
  const deadline = Date.now() + 120000;
  for (;;) {
    try {
      const res = await fetch(`${opts.url}/api/bulk`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: JSON.stringify({ items: opts.items, item_ms: opts.itemMs }),
      });
      if (res.status === 202) return (await res.json()).jobId;
      if (res.status < 500) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
    } catch (err) {
      if (String(err.message).startsWith('POST answered')) throw err;
    }
    if (Date.now() > deadline) return null;
    stats.postRetries += 1;
    await sleep(200);
  }
}

async function user(stopAt) {
  const client = jobcast.connect({
    url: opts.url, io, ioOptions: { transports: ['websocket'], reconnectionDelay: 200,
                                    reconnectionDelayMax: 1000 },
  });
  client.socket.io.on('reconnect', () => { stats.reconnects += 1; });
  client.socket.onAny((event, payload) => {
    if (/:(completed|failed)$/.test(event) && payload && terminal.has(payload.jobId)) {
      terminal.set(payload.jobId, terminal.get(payload.jobId) + 1);
    }
  });
  while (Date.now() < stopAt) {
    const jobId = await post(crypto.randomUUID());
    if (jobId === null) { stats.postFailed += 1; continue; }
    stats.jobs += 1;
    terminal.set(jobId, 0);
    await new Promise((resolve) => {
      const watcher = jobcast.watch(client, 'bulk', jobId, {
        onCompleted: () => resolve(), onFailed: () => resolve(),
      });
      // A job whose end never comes must not stall this user for ever: move on, and let the
      // final count say it was lost.
      setTimeout(() => { watcher.stop(); resolve(); }, opts.settle * 1000);
    });
  }
  return client;
}

async function main() {
  const stopAt = Date.now() + opts.seconds * 1000;
  const clients = await Promise.all(Array.from({ length: opts.vus }, () => user(stopAt)));
  // Jobs still running get their time to end (a settle window after the faults stopped).
  const settleUntil = Date.now() + opts.settle * 1000;
  while ([...terminal.values()].some((n) => n === 0) && Date.now() < settleUntil) await sleep(200);
  await sleep(1000); // a duplicate would arrive within this
  clients.forEach((c) => c.close());
  const counts = [...terminal.values()];
  const summary = {
    jobs: stats.jobs,
    lost: counts.filter((n) => n === 0).length,
    duplicates: counts.filter((n) => n > 1).length,
    postRetries: stats.postRetries,
    postFailed: stats.postFailed,
    reconnects: stats.reconnects,
    lostIds: [...terminal].filter(([, n]) => n === 0).map(([id]) => id).slice(0, 50),
    ids: [...terminal.keys()],
  };
  // Exit only once the line is written: into a pipe the write is asynchronous, and exiting
  // at once cut a long soak's summary (thousands of ids) at the pipe's 64 KiB.
  process.stdout.write(JSON.stringify(summary) + '\n', () => process.exit(0));
}

main().catch((err) => { console.error(err); process.exit(1); });
