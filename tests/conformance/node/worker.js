#!/usr/bin/env node
// The oracle's worker: a Node BullMQ 6.7.0 Worker on one queue, configured from a JSON argument,
// running the same behaviours as tests/apps/conformance_jobs.py (selected by the job's data).
//
//   node worker.js '{"redis": "redis://127.0.0.1:6379/0", "queue": "q", "opts": {...}}'
//
// opts are passed to the Worker as they are (concurrency, limiter, maxStalledCount,
// stalledInterval, lockDuration, metrics, name, drainDelay); "backoff": "mine" installs the
// custom strategy the Python side registers as "mine" (200 ms per attempt made).
// It prints "ready" once running, and stops on SIGTERM.
'use strict';

const { Worker, UnrecoverableError } = require('bullmq');

const config = JSON.parse(process.argv[2]);
const url = new URL(config.redis);
const connection = {
  host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0),
  maxRetriesPerRequest: null,
};
const opts = { connection, prefix: config.prefix || 'bull', ...(config.opts || {}) };
if (config.backoff === 'mine') {
  opts.settings = { backoffStrategy: async (attemptsMade) => attemptsMade * 200 };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let worker;

async function processor(job) {
  const d = job.data || {};
  switch (d.do) {
    case 'ok': return d.value === undefined ? { ok: true } : d.value;
    case 'fail': throw new Error(d.message || 'boom');
    case 'fail_times':
      if (job.attemptsMade < d.n) throw new Error(`attempt ${job.attemptsMade + 1} failed`);
      return { attempt: job.attemptsMade + 1 };
    case 'unrecoverable': throw new UnrecoverableError(d.message || 'never again');
    case 'die': process.kill(process.pid, 'SIGKILL'); await sleep(60000); return null;
    case 'children': return { children: await job.getChildrenValues(),
                              failed: await job.getIgnoredChildrenFailures() };
    case 'log':
      for (const line of d.lines || []) await job.log(line);
      return { lines: (d.lines || []).length };
    case 'progress':
      for (const value of d.values || []) { await job.updateProgress(value); await sleep(d.ms || 5); }
      return { values: (d.values || []).length };
    case 'sleep': await sleep(d.ms || 100); return { slept: d.ms || 100 };
    case 'ratelimit':
      if (job.attemptsStarted <= 1) {
        await worker.rateLimit(d.ms || 500);
        throw Worker.RateLimitError();
      }
      return { attempt: job.attemptsStarted };
    case 'name': return { name: job.name };
    default: throw new Error(`unknown behaviour ${d.do}`);
  }
}

worker = new Worker(config.queue, processor, opts);
worker.on('error', (err) => process.stderr.write(`worker error: ${err.message}\n`));
worker.waitUntilReady().then(() => process.stdout.write('ready\n'));
process.on('SIGTERM', async () => { await worker.close(); process.exit(0); });
