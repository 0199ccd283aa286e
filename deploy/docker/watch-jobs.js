#!/usr/bin/env node
// Browser-like clients for deploy/compose-check's fault phases: each is the shipped client
// (src/jobcast/<browser dir>/jobcast.js) on the real socket.io-client, with reconnection on, so
// after a web instance dies it reconnects through nginx and re-joins its rooms, as a page does.
//
//   NODE_PATH=<dir with node_modules/socket.io-client> node deploy/docker/watch-jobs.js \
//       --url http://127.0.0.1:8080 [--clients 4] [--jobs 2] [--job bulk] \
//       [--data '{"items":60,"item_ms":100}'] [--transports websocket,polling] \
//       [--timeout 90000] [--linger 1000]
//
// Client i uses transport i mod len(--transports). Each client starts --jobs jobs (POST
// through --url with jobcast.start) and watches them with jobcast.watch. One JSON object a
// line on stdout:
//   {"event":"ready",...}    every client is connected, every join acked ok and every job has
//                            shown progress: the caller may now kill something
//   {"event":"summary","ok":true,...}   the last line, once every job had its terminal
//                            callback on its client (+ --linger ms to catch duplicates)
// The summary counts, over all clients: jobs, completed, failed, duplicates (terminal
// messages beyond the first for a job, as they came off the socket), non_monotonic
// (progress callbacks that went down within one attempt), retrying events, connections per client, and
// reconnected (clients that connected more than once). It exits 0 when every job
// completed exactly once, else 1 (also after --timeout ms).

'use strict';

const fs = require('fs');
const path = require('path');
const { io } = require('socket.io-client');

// The shipped client: JOBCAST_CLIENT_JS, else src/jobcast/<dir>/jobcast.js of this checkout.
function clientPath() {
  if (process.env.JOBCAST_CLIENT_JS) return process.env.JOBCAST_CLIENT_JS;
  const pkg = path.join(__dirname, '..', '..', 'src', 'jobcast');
  const found = fs.readdirSync(pkg).map((d) => path.join(pkg, d, 'jobcast.js')).find((f) => fs.existsSync(f));
  if (!found) throw new Error(`no jobcast.js under ${pkg}`);
  return found;
}
const jobcast = require(clientPath());

function parseArgs(argv) {
  const opts = {
    url: 'http://127.0.0.1:8080', clients: 4, jobs: 2, job: 'bulk',
    data: '{"items":60,"item_ms":100}', transports: 'websocket,polling', timeout: 90000,
    linger: 1000,
  };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  opts.url = opts.url.replace(/\/+$/, '');
  opts.transports = opts.transports.split(',').filter(Boolean);
  return opts;
}

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Client {
  constructor(opts, index) {
    this.index = index;
    this.transport = opts.transports[index % opts.transports.length];
    this.connections = 0;
    this.errors = [];
    this.jobs = new Map(); // jobId -> record
    this.client = jobcast.connect({
      url: opts.url,
      io,
      ioOptions: {
        transports: [this.transport], forceNew: true,
        reconnectionDelay: 200, reconnectionDelayMax: 1000, timeout: 5000,
      },
    });
    const socket = this.client.socket;
    this.connected = new Promise((resolve) => socket.once('connect', resolve));
    socket.on('connect', () => { this.connections += 1; });
    socket.on('connect_error', (err) => this.errors.push(String(err && err.message)));
    // Raw terminal messages, before watch() de-duplicates them: a second one is a duplicate.
    socket.onAny((name, payload) => {
      const rec = payload && this.jobs.get(payload.jobId);
      if (rec && /:(completed|failed)$/.test(name)) rec.terminalMessages += 1;
    });
  }

  async start(opts) {
    const data = JSON.parse(opts.data);
    const { jobId } = await jobcast.start(opts.job, data, { baseUrl: opts.url });
    const rec = {
      jobId, progress: [], last: -1, nonMonotonic: 0, completed: 0, failed: 0, retrying: 0,
      terminalMessages: 0, ack: null, reason: null,
    };
    this.jobs.set(jobId, rec);
    const w = jobcast.watch(this.client, opts.job, jobId, {
      onProgress: (value) => {
        if (value < rec.last) rec.nonMonotonic += 1;
        rec.last = value;
        rec.progress.push(value);
      },
      // A new attempt starts again from 0.
      onRetrying: () => { rec.retrying += 1; rec.last = -1; },
      onCompleted: () => { rec.completed += 1; },
      onFailed: (reason) => { rec.failed += 1; rec.reason = reason; },
    });
    rec.ack = await w.ready;
    return rec;
  }

  done() {
    return [...this.jobs.values()].every((r) => r.completed + r.failed > 0);
  }
}

async function main() {
  const opts = parseArgs(process.argv);
  const started = Date.now();
  const deadline = started + opts.timeout;
  const clients = Array.from({ length: opts.clients }, (_, i) => new Client(opts, i));
  const all = () => clients.flatMap((c) => [...c.jobs.values()]);
  let error = null;
  try {
    const connected = Promise.all(clients.map((c) => c.connected));
    if (!(await Promise.race([connected.then(() => true), sleep(opts.timeout).then(() => false)]))) {
      throw new Error(`not every client connected: ${JSON.stringify(clients.map((c) => c.errors.slice(-2)))}`);
    }
    await Promise.all(clients.map(async (c) => {
      for (let j = 0; j < opts.jobs; j++) await c.start(opts);
    }));
    const refused = all().filter((r) => !r.ack || r.ack.ok !== true);
    if (refused.length) throw new Error(`joinRoom refused: ${JSON.stringify(refused[0].ack)}`);
    while (!all().every((r) => r.progress.length > 0 || r.completed + r.failed > 0)) {
      if (Date.now() > deadline) throw new Error('no progress on some job');
      await sleep(20);
    }
    out({
      event: 'ready', clients: clients.length, jobs: all().length,
      elapsed_ms: Date.now() - started,
      finished_before_ready: all().filter((r) => r.completed + r.failed > 0).length,
    });
    while (!clients.every((c) => c.done())) {
      if (Date.now() > deadline) throw new Error('timeout: some jobs had no terminal event');
      await sleep(25);
    }
    await sleep(opts.linger);
  } catch (err) {
    error = String((err && err.message) || err);
  }
  for (const c of clients) c.client.close();
  const recs = all();
  const summary = {
    event: 'summary',
    clients: clients.length,
    transports: [...new Set(clients.map((c) => c.transport))],
    jobs: recs.length,
    completed: recs.filter((r) => r.completed === 1 && r.failed === 0).length,
    failed: recs.filter((r) => r.failed > 0).length,
    missing: recs.filter((r) => r.completed + r.failed === 0).length,
    duplicates: recs.reduce((n, r) => n + Math.max(0, r.terminalMessages - 1), 0),
    non_monotonic: recs.reduce((n, r) => n + r.nonMonotonic, 0),
    retrying: recs.reduce((n, r) => n + r.retrying, 0),
    connections: clients.map((c) => c.connections),
    reconnected: clients.filter((c) => c.connections > 1).length,
    reasons: [...new Set(recs.filter((r) => r.reason).map((r) => String(r.reason)))].slice(0, 3),
    elapsed_ms: Date.now() - started,
    error,
  };
  summary.ok = !error && recs.length > 0 && summary.completed === recs.length
    && summary.duplicates === 0 && summary.non_monotonic === 0;
  out(summary);
  process.exit(summary.ok ? 0 : 1);
}

main();
