// Node baseline, worker process: consumes the `bulk` queue, concurrency 50 (CONCURRENCY env).
// bulk {items, item_ms}: handles `items` items, sleeping item_ms before each, and reports
// whole-percent progress whenever the percentage changes; result {items}.
const { Worker } = require('bullmq');
const { connectionFromEnv } = require('./redis-conn');

const connection = connectionFromEnv();
const concurrency = Number(process.env.CONCURRENCY) || 50;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

async function bulk(job) {
  const items = Number(job.data.items ?? 10);
  const itemMs = Number(job.data.item_ms ?? 0);
  let lastPct = -1;
  for (let i = 1; i <= items; i++) {
    if (itemMs > 0) await sleep(itemMs);
    const pct = Math.floor((100 * i) / items);
    if (pct !== lastPct) {
      lastPct = pct;
      await job.updateProgress(pct);
    }
  }
  return { items };
}

const worker = new Worker('bulk', bulk, { connection, concurrency });
worker.on('error', err => console.error('worker error:', err.message));
worker.on('ready', () => console.log(`node-baseline worker ready, concurrency ${concurrency}`));

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await worker.close().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
