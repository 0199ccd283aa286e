// Load generator for the jobcast / seed contract, implementation-agnostic, real socket.io-client.
// Each virtual user (one Socket.IO connection) loops until the time is up:
//   POST {base}/api/{job} -> 202 {jobId};  emit('joinRoom', jobId);
//   wait for '{job}:completed' | '{job}:failed' carrying that jobId, at most TIMEOUT_MS.
//
// Usage: node loadgen.js BASE JOB 'PAYLOAD_JSON' VUS SECONDS [TIMEOUT_MS]
//   LG_TRANSPORTS=websocket (default) | polling | polling,websocket
// Prints one JSON line:
//   done, failed, lost (no terminal event within TIMEOUT_MS), duplicates (a second terminal event
//   for a job already finished on that socket), errors (HTTP errors), non202, progressEvents,
//   jobs_per_s, accept_ms {p50,p99} (POST latency), e2e_ms {p50,p95,p99} (POST start -> terminal
//   event), first_progress_ms {p50}.
'use strict';
const http = require('node:http');
const { io } = require('socket.io-client');

const [base, job, payloadArg, vusArg, secsArg, timeoutArg] = process.argv.slice(2);
if (!base || !job) {
  console.error("usage: node loadgen.js BASE JOB 'PAYLOAD_JSON' VUS SECONDS [TIMEOUT_MS]");
  process.exit(2);
}
const VUS = Number(vusArg) || 10;
const SECONDS = Number(secsArg) || 10;
const TIMEOUT_MS = Number(timeoutArg) || 5000;
const TRANSPORTS = (process.env.LG_TRANSPORTS || 'websocket').split(',');
const body = JSON.stringify(JSON.parse(payloadArg || '{}'));
const target = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: VUS });

function postJob() {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname, port: target.port, path: `/api/${job}`, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, res => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', chunk => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
const round2 = x => (x === null ? null : Number(x.toFixed(2)));

const stats = { done: 0, failed: 0, lost: 0, duplicates: 0, errors: 0, non202: 0, progressEvents: 0 };
const acceptMs = [], e2eMs = [], firstProgressMs = [];

async function virtualUser(deadline) {
  const socket = io(base, { transports: TRANSPORTS, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const pending = new Map();   // jobId -> {resolve, firstProgressAt}
  const finished = new Set();  // job ids whose terminal event this socket already got
  socket.on(`${job}:progress`, msg => {
    stats.progressEvents++;
    const w = pending.get(String(msg && msg.jobId));
    if (w && w.firstProgressAt === undefined) w.firstProgressAt = performance.now();
  });
  const onTerminal = kind => msg => {
    const id = String(msg && msg.jobId);
    const w = pending.get(id);
    if (w) {
      pending.delete(id);
      finished.add(id);
      w.resolve(kind);
    } else if (finished.has(id)) {
      stats.duplicates++;
    }
  };
  socket.on(`${job}:completed`, onTerminal('completed'));
  socket.on(`${job}:failed`, onTerminal('failed'));

  while (Date.now() < deadline) {
    const t0 = performance.now();
    let res;
    try {
      res = await postJob();
    } catch {
      stats.errors++;
      await new Promise(r => setTimeout(r, 10));
      continue;
    }
    const t1 = performance.now();
    if (res.status !== 202) { stats.non202++; continue; }
    acceptMs.push(t1 - t0);
    const jobId = String(JSON.parse(res.text).jobId);
    const w = {};
    const terminal = new Promise(resolve => { w.resolve = resolve; });
    pending.set(jobId, w);
    socket.emit('joinRoom', jobId);
    let timer;
    const timeout = new Promise(resolve => { timer = setTimeout(() => resolve('lost'), TIMEOUT_MS); });
    const kind = await Promise.race([terminal, timeout]);
    clearTimeout(timer);
    if (kind === 'lost') {
      stats.lost++;
      pending.delete(jobId);
      continue;
    }
    if (kind === 'failed') stats.failed++; else stats.done++;
    e2eMs.push(performance.now() - t0);
    if (w.firstProgressAt !== undefined) firstProgressMs.push(w.firstProgressAt - t0);
  }
  socket.close();
}

(async () => {
  const deadline = Date.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: VUS }, () => virtualUser(deadline)));
  const secs = (performance.now() - started) / 1000;
  for (const a of [acceptMs, e2eMs, firstProgressMs]) a.sort((x, y) => x - y);
  console.log(JSON.stringify({
    vus: VUS, secs: Number(secs.toFixed(2)), ...stats,
    jobs_per_s: Number((stats.done / secs).toFixed(1)),
    accept_ms: { p50: round2(percentile(acceptMs, 50)), p99: round2(percentile(acceptMs, 99)) },
    e2e_ms: { p50: round2(percentile(e2eMs, 50)), p95: round2(percentile(e2eMs, 95)), p99: round2(percentile(e2eMs, 99)) },
    first_progress_ms: { p50: round2(percentile(firstProgressMs, 50)) },
  }));
  process.exit(0);
})().catch(err => {
  console.error('loadgen failed:', err && err.message ? err.message : err);
  process.exit(1);
});
