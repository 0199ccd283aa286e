// Idle watching sockets: opens K Socket.IO connections, each watching one job (POST /api/JOB,
// then joinRoom(jobId) and wait for its ack), and holds them open so the caller can measure the
// web process's memory. Driven over stdin/stdout, one JSON line per phase:
//
//   node sockets.js BASE K [JOB] ['PAYLOAD_JSON'] [WARMUP]
//   -> {"phase":"warm", ...}     WARMUP sockets were opened, joined and closed again
//   <- any line on stdin         "go"
//   -> {"phase":"ready", ...}    K sockets are connected and joined (connect_s: time it took)
//   <- any line / EOF on stdin   close everything and exit
//
// Run it with no worker consuming JOB, so every watched job stays waiting and the sockets idle.
'use strict';
const http = require('node:http');
const readline = require('node:readline');
const { io } = require('socket.io-client');

const [base, kArg, job = 'bulk', payloadArg = '{"items":1,"item_ms":0}', warmArg = '50'] = process.argv.slice(2);
const K = Number(kArg) || 1000;
const WARMUP = Number(warmArg) || 0;
const BATCH = 50;
const TRANSPORTS = (process.env.LG_TRANSPORTS || 'websocket').split(',');
const body = JSON.stringify(JSON.parse(payloadArg));
const target = new URL(base);
const agent = new http.Agent({ keepAlive: true, maxSockets: BATCH });

function postJob() {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname, port: target.port, path: `/api/${job}`, method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    }, res => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', c => { text += c; });
      res.on('end', () => (res.statusCode === 202 ? resolve(String(JSON.parse(text).jobId))
        : reject(new Error(`POST /api/${job} -> ${res.statusCode} ${text.slice(0, 200)}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openWatcher() {
  const jobId = await postJob();
  const socket = io(base, { transports: TRANSPORTS, reconnection: false, forceNew: true });
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('connect_error', reject);
  });
  const ack = await new Promise(resolve => {
    const timer = setTimeout(() => resolve({ ok: false, error: 'no ack in 10 s' }), 10000);
    socket.emit('joinRoom', jobId, a => { clearTimeout(timer); resolve(a); });
  });
  return { socket, ok: !!(ack && ack.ok !== false), ack };
}

async function openMany(n) {
  const out = [];
  for (let i = 0; i < n; i += BATCH) {
    const batch = await Promise.all(Array.from({ length: Math.min(BATCH, n - i) }, openWatcher));
    out.push(...batch);
  }
  return out;
}

const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise(resolve => {
  lines.once('line', resolve);
  lines.once('close', resolve);
});
const say = obj => process.stdout.write(JSON.stringify(obj) + '\n');

(async () => {
  if (WARMUP > 0) {
    const warm = await openMany(WARMUP);
    warm.forEach(w => w.socket.close());
    await new Promise(r => setTimeout(r, 500));
  }
  say({ phase: 'warm', warmup: WARMUP });
  await nextLine();
  const t0 = performance.now();
  const watchers = await openMany(K);
  const secs = (performance.now() - t0) / 1000;
  const failed = watchers.filter(w => !w.ok);
  say({ phase: 'ready', sockets: watchers.length, joined: watchers.length - failed.length,
    connect_s: Number(secs.toFixed(2)), first_error: failed.length ? failed[0].ack : null });
  await nextLine();
  watchers.forEach(w => w.socket.close());
  process.exit(0);
})().catch(err => {
  say({ phase: 'error', error: String(err && err.message || err) });
  process.exit(1);
});
