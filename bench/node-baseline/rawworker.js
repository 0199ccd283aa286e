// Raw worker throughput, Node side: how fast one BullMQ Worker drains a pre-filled queue.
//
//   node rawworker.js fill  QUEUE N          obliterate QUEUE, then add N no-op jobs named QUEUE, with
//                                            random 22-char ids (jobcast's id format, so any of the
//                                            drainers accepts them)
//   node rawworker.js drain QUEUE N [CONC]   start one Worker (concurrency CONC, default 50) whose
//                                            processor does one updateProgress(100) and returns
//                                            {ok: true}; time from start to the Nth completion
//   node rawworker.js run   QUEUE N [CONC]   fill, then drain
//
// `drain` prints one JSON line: {impl, queue, jobs, concurrency, secs, jobs_per_s}.
// The same pre-filled queue can be drained by bench/rawworker.py (Python side) instead.
'use strict';
const { randomBytes } = require('node:crypto');
const { Queue, Worker } = require('bullmq');
const { connectionFromEnv } = require('./redis-conn');

const connection = connectionFromEnv();
const [mode, queueName = 'rawbench', nArg = '10000', concArg = '50'] = process.argv.slice(2);
const N = Number(nArg);
const CONCURRENCY = Number(concArg);
const JOB_OPTS = { removeOnComplete: 1000, removeOnFail: 1000 };

async function fill() {
  const queue = new Queue(queueName, { connection });
  await queue.obliterate({ force: true });
  const CHUNK = 1000;
  for (let i = 0; i < N; i += CHUNK) {
    const jobs = [];
    for (let j = i; j < Math.min(N, i + CHUNK); j++) {
      const jobId = randomBytes(16).toString('base64url');
      jobs.push({ name: queueName, data: { i: j }, opts: { ...JOB_OPTS, jobId } });
    }
    await queue.addBulk(jobs);
  }
  const waiting = await queue.getWaitingCount();
  await queue.close();
  return waiting;
}

function drain() {
  return new Promise((resolve, reject) => {
    let completed = 0, failed = 0;
    const t0 = performance.now();
    const worker = new Worker(queueName, async job => {
      await job.updateProgress(100);
      return { ok: true };
    }, { connection, concurrency: CONCURRENCY });
    const finish = async () => {
      const secs = (performance.now() - t0) / 1000;
      await worker.close();
      resolve({ impl: 'node-bullmq', queue: queueName, jobs: completed, failed, concurrency: CONCURRENCY,
        secs: Number(secs.toFixed(3)), jobs_per_s: Number((completed / secs).toFixed(1)) });
    };
    worker.on('completed', () => { if (++completed + failed === N) finish().catch(reject); });
    worker.on('failed', () => { if (completed + ++failed === N) finish().catch(reject); });
    worker.on('error', err => console.error('worker error:', err.message));
  });
}

(async () => {
  if (mode === 'fill') {
    const waiting = await fill();
    console.log(JSON.stringify({ filled: waiting, queue: queueName }));
  } else if (mode === 'drain') {
    console.log(JSON.stringify(await drain()));
  } else if (mode === 'run') {
    await fill();
    console.log(JSON.stringify(await drain()));
  } else {
    console.error('usage: node rawworker.js fill|drain|run QUEUE N [CONCURRENCY]');
    process.exit(2);
  }
  process.exit(0);
})().catch(err => {
  console.error('rawworker failed:', err);
  process.exit(1);
});
