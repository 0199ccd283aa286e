#!/usr/bin/env node
// A real socket.io-client watching jobcast jobs, for tests/e2e/test_topology.py.
//
//   node tests/e2e/clients/watch.js --url http://127.0.0.1:8080 [--transport websocket|polling]
//        [--job bulk] [--count 5] [--data '{"items":20,"item_ms":5}'] [--ids id1,id2]
//        [--clients 1] [--timeout 30000] [--linger 500] [--verbose]
//
// Each client (--clients, default 1) connects to --url with only the given transport and
// reconnection on, and joins every job's room again after each (re)connection (rooms live
// in the server process). Without --ids, once all clients are connected it POSTs --count
// jobs of type --job with body --data to <url>/api/<job>, each client joining the room as
// soon as the job id is known; with --ids it watches those existing jobs.
//
// Output, one JSON object a line on stdout:
//   {"event":"connect","client":0,"n":1,"transport":"polling"}   each (re)connection n
//   {"event":"job","jobId":"..."}                                each POSTed job
//   {"event":"joined","client":0,"n":1,"jobId":"...","ack":{...}}
//   {"event":"progress","client":0,"n":1,"jobId":"...","progress":40}   (only with --verbose)
//   {"event":"completed"|"failed","client":0,"n":1,"jobId":"..."}
//   {"event":"disconnect","client":0,"reason":"..."}
//   {"event":"summary","ok":true,"ids":[...],"clients":[...]}     always the last line
// Each summary client: {connects, disconnects, transport, errors, jobs: {jobId: {progress:
// [values], completed: n, failed: n, result, reason, acks: [{n, ack}], events: [{type, n,
// value}]}}} where n is the connection number the event arrived on.
// It exits once every job has had a terminal event on every client, after --linger more
// ms to catch duplicates: exit code 0, or 1 on timeout or error.

'use strict';

const { io } = require('socket.io-client');

function parseArgs(argv) {
  const opts = {
    url: 'http://127.0.0.1:8080', transport: 'websocket', job: 'bulk', count: 1,
    data: '{"items":20,"item_ms":5}', ids: '', clients: 1, timeout: 30000, linger: 500,
    verbose: false,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--verbose') { opts.verbose = true; continue; }
    const key = a.startsWith('--') ? a.slice(2) : '';
    if (!(key in opts) || i + 1 >= argv.length) throw new Error(`bad argument ${a}`);
    const v = argv[++i];
    opts[key] = typeof opts[key] === 'number' ? Number(v) : v;
  }
  opts.url = opts.url.replace(/\/+$/, '');
  if (!['websocket', 'polling'].includes(opts.transport)) {
    throw new Error(`--transport must be websocket or polling, not ${opts.transport}`);
  }
  return opts;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

class Watcher {
  constructor(opts, index) {
    this.opts = opts;
    this.index = index;
    this.ids = [];
    this.rec = { connects: 0, disconnects: 0, transport: null, errors: [], jobs: {} };
    const socket = io(opts.url, {
      transports: [opts.transport],
      reconnection: true,
      reconnectionDelay: 200,
      reconnectionDelayMax: 1000,
      timeout: 5000,
    });
    this.socket = socket;
    this.connected = new Promise((resolve) => { this._onFirstConnect = resolve; });

    socket.on('connect', () => {
      this.rec.connects += 1;
      this.rec.transport = socket.io.engine.transport.name;
      out({ event: 'connect', client: index, n: this.rec.connects, transport: this.rec.transport });
      for (const id of this.ids) this.join(id);
      this._onFirstConnect();
    });
    socket.on('disconnect', (reason) => {
      this.rec.disconnects += 1;
      out({ event: 'disconnect', client: index, reason });
    });
    socket.on('connect_error', (err) => {
      this.rec.errors.push(String(err && err.message));
    });
    socket.on(`${opts.job}:progress`, (msg) => this.onEvent('progress', msg, msg.progress));
    socket.on(`${opts.job}:completed`, (msg) => this.onEvent('completed', msg, msg.result));
    socket.on(`${opts.job}:failed`, (msg) => this.onEvent('failed', msg, msg.reason));
  }

  add(id) {
    this.ids.push(id);
    this.rec.jobs[id] = {
      progress: [], completed: 0, failed: 0, result: null, reason: null, acks: [], events: [],
    };
    if (this.socket.connected) this.join(id);
  }

  join(id) {
    const n = this.rec.connects;
    this.socket.timeout(5000).emit('joinRoom', id, (err, ack) => {
      const a = err ? { ok: false, error: String(err) } : (ack === undefined ? null : ack);
      this.rec.jobs[id].acks.push({ n, ack: a });
      out({ event: 'joined', client: this.index, n, jobId: id, ack: a });
    });
  }

  onEvent(type, msg, value) {
    const j = msg && this.rec.jobs[msg.jobId];
    if (!j) return;
    const n = this.rec.connects;
    j.events.push({ type, n, value: value === undefined ? null : value });
    if (type === 'progress') {
      j.progress.push(value);
      if (this.opts.verbose) {
        out({ event: 'progress', client: this.index, n, jobId: msg.jobId, progress: value });
      }
    } else {
      j[type] += 1;
      if (type === 'completed') j.result = value === undefined ? null : value;
      else j.reason = value === undefined ? null : value;
      out({ event: type, client: this.index, n, jobId: msg.jobId });
    }
  }

  done() {
    return this.ids.length > 0
      && this.ids.every((id) => this.rec.jobs[id].completed + this.rec.jobs[id].failed > 0);
  }
}

async function createJob(opts) {
  const res = await fetch(`${opts.url}/api/${opts.job}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: opts.data,
  });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`POST /api/${opts.job} -> ${res.status} ${text}`);
  return JSON.parse(text).jobId;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const opts = parseArgs(process.argv);
  const watchers = [];
  for (let i = 0; i < opts.clients; i++) watchers.push(new Watcher(opts, i));
  const started = Date.now();
  let summary = { ok: false };
  try {
    const connected = Promise.all(watchers.map((w) => w.connected)).then(() => true);
    if (!(await Promise.race([connected, sleep(opts.timeout).then(() => false)]))) {
      const errors = watchers.map((w) => w.rec.errors.slice(-3));
      throw new Error(`no connection within --timeout; connect errors: ${JSON.stringify(errors)}`);
    }

    let ids;
    if (opts.ids) {
      ids = opts.ids.split(',').filter(Boolean);
      for (const id of ids) for (const w of watchers) w.add(id);
    } else {
      ids = [];
      for (let i = 0; i < opts.count; i++) {
        const id = await createJob(opts);
        ids.push(id);
        out({ event: 'job', jobId: id });
        for (const w of watchers) w.add(id);
      }
    }

    let timedOut = false;
    while (!watchers.every((w) => w.done())) {
      if (Date.now() - started > opts.timeout) { timedOut = true; break; }
      await sleep(25);
    }
    if (!timedOut) await sleep(opts.linger);
    summary = { ok: !timedOut, timeout: timedOut, ids };
  } catch (err) {
    summary = { ok: false, error: String((err && err.stack) || err) };
  }
  for (const w of watchers) w.socket.close();
  out({
    event: 'summary', ...summary, transport: opts.transport,
    elapsed_ms: Date.now() - started, clients: watchers.map((w) => w.rec),
  });
  process.exit(summary.ok ? 0 : 1);
}

main();
