#!/usr/bin/env node
// Watches one job with the shipped browser client (src/jobcast/browser/jobcast.js) on the real
// socket.io-client, for tests/e2e/test_faults.py (the web process restarts under it).
//
//   node tests/e2e/clients/rejoin.js --url http://127.0.0.1:8000 --job gate --id <jobId>
//        [--transport websocket|polling] [--timeout 30000] [--linger 300]
//
// jobcast.js re-joins every room it watches after each reconnection; this script only
// records what happens. One JSON object a line on stdout, n being the connection number:
//   {"event":"connect","n":1}            each (re)connection
//   {"event":"disconnect","n":1,"reason":"transport close"}
//   {"event":"join","n":1,"ack":{...}}   every joinRoom the client sent, with the server's ack
//   {"event":"message","n":2,"name":"gate:progress","payload":{...}}   every server event
//   {"event":"progress"|"completed"|"failed","n":2,"value":...}       watch() callbacks
//   {"event":"summary","ok":true,...}    last line; exit 0 once a terminal callback came
// The script exits --linger ms after the terminal callback (a duplicate would show up as a
// second terminal message), or with 1 after --timeout ms.

'use strict';

const path = require('path');
const { io } = require('socket.io-client');
const jobcast = require(path.join(__dirname, '..', '..', '..', 'src', 'jobcast', 'browser', 'jobcast.js'));

function parseArgs(argv) {
  const opts = { url: '', job: '', id: '', transport: 'websocket', timeout: 30000, linger: 300 };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    opts[key] = typeof opts[key] === 'number' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!opts.url || !opts.job || !opts.id) throw new Error('--url, --job and --id are required');
  return opts;
}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const opts = parseArgs(process.argv);
const client = jobcast.connect({
  url: opts.url,
  io,
  ioOptions: { transports: [opts.transport], reconnectionDelay: 100, reconnectionDelayMax: 500 },
});
const socket = client.socket;
let n = 0;
socket.io.on('open', () => { n += 1; }); // before the socket's `connect`, where jobcast re-joins
socket.on('connect', () => out({ event: 'connect', n }));
socket.on('disconnect', (reason) => out({ event: 'disconnect', n, reason }));
socket.onAny((name, payload) => out({ event: 'message', n, name, payload }));

// Record every joinRoom the client sends (first join and re-joins) and the server's answer.
const emit = socket.emit.bind(socket);
socket.emit = function (name, ...args) {
  if (name === 'joinRoom' && typeof args[args.length - 1] === 'function') {
    const ack = args.pop();
    const conn = n;
    args.push((err, answer) => {
      out({ event: 'join', n: conn, ack: err ? { ok: false, error: String(err) } : answer });
      ack(err, answer);
    });
  }
  return emit(name, ...args);
};

let finished = false;
function finish(ok, extra) {
  if (finished) return;
  finished = true;
  out({ event: 'summary', ok, connections: n, ...extra });
  client.close();
  process.exit(ok ? 0 : 1);
}

function done() {
  setTimeout(() => finish(true), opts.linger);
}

jobcast.watch(client, opts.job, opts.id, {
  onProgress: (value) => out({ event: 'progress', n, value }),
  onCompleted: (result) => { out({ event: 'completed', n, value: result }); done(); },
  onFailed: (reason) => { out({ event: 'failed', n, value: reason }); done(); },
});
setTimeout(() => finish(false, { error: 'timeout' }), opts.timeout);
