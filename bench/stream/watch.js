#!/usr/bin/env node
// The streaming benchmark's watchers: K Socket.IO connections (the real socket.io-client under
// the shipped src/jobcast/browser/jobcast.js), each watching all N jobs of a run. Every chunk
// starts with the time it was written; a watcher notes each chunk's latency (write -> here)
// and checks that it got every chunk of every job once, in order.
//
//   node bench/stream/watch.js --url http://127.0.0.1:8000 --job stream --jobs 20 \
//        --chunks 5000 --sockets 5 [--size 24] [--every-ms 0] [--lead-ms 1500]
//        [--socket-per-job 1] [--paced 1] [--client path/to/jobcast.js]
//
// --socket-per-job 1: one socket per job (--sockets is then the number of jobs), as the Node
// peer's users have; --paced 1: chunk i of a job is due at start + i * every-ms (a steady rate,
// whatever the sleeps overshoot); --client: the browser client to drive (default: this repo's).
//
// Prints one JSON line: chunks delivered, seconds, latency percentiles (ms), errors.
'use strict';

const path = require('path');
const { performance } = require('perf_hooks');
const root = path.join(__dirname, '..', '..');
const { io } = require(path.join(root, 'node_modules', 'socket.io-client'));

const opts = { url: '', job: 'stream', jobs: 1, chunks: 1000, sockets: 1, size: 24, everyMs: 0,
               leadMs: 1500, socketPerJob: 0, paced: 0,
               client: path.join(root, 'src', 'jobcast', 'browser', 'jobcast.js') };
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '').replace(/-(.)/g, (_, c) => c.toUpperCase());
  opts[key] = ['url', 'job', 'client'].includes(key) ? process.argv[i + 1] : Number(process.argv[i + 1]);
}
if (opts.socketPerJob) opts.sockets = opts.jobs;
const jobcast = require(path.resolve(opts.client));
const now = () => (performance.timeOrigin + performance.now()) / 1000; // epoch s, sub-ms

async function post(data) {
  const res = await fetch(`${opts.url}/api/${opts.job}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(data),
  });
  if (res.status !== 202) throw new Error(`POST answered ${res.status}: ${await res.text()}`);
  return (await res.json()).jobId;
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main() {
  const clients = [];
  for (let i = 0; i < opts.sockets; i += 1) {
    const client = jobcast.connect({ url: opts.url, io, baseUrl: '',
                                     ioOptions: { transports: ['websocket'] } });
    await new Promise((resolve) => client.socket.once('connect', resolve));
    clients.push(client);
  }
  const startAt = Date.now() / 1000 + opts.leadMs / 1000;
  const data = { chunks: opts.chunks, size: opts.size, every_ms: opts.everyMs, start_at: startAt };
  if (opts.paced) data.paced = true;
  const ids = await Promise.all(Array.from({ length: opts.jobs }, () => post(data)));
  const latencies = [];
  const errors = [];
  let delivered = 0;
  let entries = 0;
  let lastAt = 0;
  const ends = [];
  const pairs = opts.socketPerJob ? ids.map((jobId, i) => [clients[i], jobId])
    : clients.flatMap((client) => ids.map((jobId) => [client, jobId]));
  {
    for (const [client, jobId] of pairs) {
      let got = 0;
      let lastStamp = 0;
      ends.push(new Promise((resolve) => {
        const watcher = jobcast.watch(client, opts.job, jobId, {
          onOutput: (text) => {
            const at = now();
            entries += 1;
            for (const piece of text.split(';')) {
              if (!piece) continue;
              const stamp = parseFloat(piece);
              if (stamp < lastStamp) errors.push(`${jobId}: out of order`);
              lastStamp = stamp;
              latencies.push((at - stamp) * 1000);
              got += 1;
            }
          },
          onCompleted: () => {
            if (got !== opts.chunks) errors.push(`${jobId}: ${got} of ${opts.chunks} chunks`);
            delivered += got;
            lastAt = Math.max(lastAt, now());
            resolve();
          },
          onFailed: (reason) => { errors.push(`${jobId} failed: ${reason}`); resolve(); },
        });
        watcher.ready.then((ack) => { if (!ack.ok) { errors.push(`join: ${ack.error}`); resolve(); } });
      }));
    }
  }
  await Promise.all(ends);
  latencies.sort((a, b) => a - b);
  const round = (x) => (x == null ? null : Math.round(x * 100) / 100);
  const seconds = lastAt - startAt;
  process.stdout.write(JSON.stringify({
    jobs: opts.jobs, chunks: opts.chunks, sockets: opts.sockets, delivered, entries,
    seconds: round(seconds), chunks_per_s: Math.round(delivered / seconds),
    latency_ms: { p50: round(percentile(latencies, 50)), p90: round(percentile(latencies, 90)),
                  p99: round(percentile(latencies, 99)), max: round(latencies[latencies.length - 1]) },
    errors: errors.slice(0, 10), error_count: errors.length,
  }) + '\n');
  clients.forEach((c) => c.close());
}

main().catch((err) => { console.error(err); process.exit(1); });
