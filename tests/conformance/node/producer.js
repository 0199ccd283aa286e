#!/usr/bin/env node
// The oracle's producer and inspector: Node BullMQ 6.7.0's Queue, FlowProducer and Job APIs,
// driven one JSON request per stdin line, one JSON answer per stdout line:
//
//   node producer.js redis://127.0.0.1:6379/0 [prefix]
//   {"op": "add", "queue": "q", "name": "n", "data": {...}, "opts": {...}}   -> {"ok": true, "result": "<id>"}
//
// Everything the tests need to set up a scenario the way a Node application would, and to read
// the outcome the way a Node application (or Bull Board) sees it.
'use strict';

const readline = require('readline');
const { Queue, FlowProducer, Job } = require('bullmq');
const { Cluster } = require('ioredis');

// redis+cluster://host:port,host:port is a Redis Cluster (its seeds), as jobcast reads it;
// on it a queue is named in braces ("{bulk}") so its keys share one slot.
const CLUSTER = 'redis+cluster://';
const prefix = process.argv[3] || 'bull';
let connection;
if (process.argv[2].startsWith(CLUSTER)) {
  const nodes = process.argv[2].slice(CLUSTER.length).split(',').map((hostPort) => {
    const [host, port] = hostPort.split(':');
    return { host, port: Number(port) };
  });
  connection = new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
} else {
  const url = new URL(process.argv[2]);
  connection = {
    host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0),
    maxRetriesPerRequest: null,
  };
}
const queues = new Map();
const queue = (name) => {
  if (!queues.has(name)) queues.set(name, new Queue(name, { connection, prefix }));
  return queues.get(name);
};
let flows;

async function describe(q, id) {
  const state = await queue(q).getJobState(id);  // first: the job read after it is as new
  const job = await Job.fromId(queue(q), id);
  if (!job) return null;
  const logs = await queue(q).getJobLogs(id);
  return {
    id: job.id, name: job.name, data: job.data, opts: job.opts, state,
    progress: job.progress, returnvalue: job.returnvalue, failedReason: job.failedReason,
    stacktrace: job.stacktrace, attemptsMade: job.attemptsMade, attemptsStarted: job.attemptsStarted,
    stalledCounter: job.stalledCounter, processedOn: job.processedOn, finishedOn: job.finishedOn,
    processedBy: job.processedBy, delay: job.delay, timestamp: job.timestamp, logs: logs.logs,
  };
}

const ops = {
  add: (r) => queue(r.queue).add(r.name || r.queue, r.data || {}, r.opts || {}).then((j) => j.id),
  addBulk: (r) => queue(r.queue).addBulk(r.jobs).then((js) => js.map((j) => j.id)),
  flow: async (r) => {
    flows = flows || new FlowProducer({ connection, prefix });
    const ids = (node) => ({ id: node.job.id, children: (node.children || []).map(ids) });
    return ids(await flows.add(r.tree));
  },
  scheduler: (r) => queue(r.queue).upsertJobScheduler(r.id, r.repeat, r.template).then((j) => j && j.id),
  removeScheduler: (r) => queue(r.queue).removeJobScheduler(r.id),
  globalRateLimit: (r) => queue(r.queue).setGlobalRateLimit(r.max, r.duration),
  globalConcurrency: (r) => queue(r.queue).setGlobalConcurrency(r.concurrency),
  workers: (r) => queue(r.queue).getWorkers().then((ws) => ws.map((w) => w.rawname || w.name)),
  remove: (r) => queue(r.queue).remove(r.id),
  pause: (r) => queue(r.queue).pause(),
  resume: (r) => queue(r.queue).resume(),
  counts: (r) => queue(r.queue).getJobCounts(),
  metrics: (r) => queue(r.queue).getMetrics(r.type || 'completed'),
  job: (r) => describe(r.queue, r.id),
  jobs: (r) => queue(r.queue).getJobs(r.types, 0, r.limit || 100).then((js) => js.map((j) => j.id)),
};

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let answer;
  try {
    const request = JSON.parse(line);
    const result = await ops[request.op](request);
    answer = { ok: true, result: result === undefined ? null : result };
  } catch (err) {
    answer = { ok: false, error: String(err && err.message || err) };
  }
  process.stdout.write(JSON.stringify(answer === undefined ? null : answer) + '\n');
});
lines.on('close', async () => {
  await Promise.all([...queues.values()].map((q) => q.close()));
  if (flows) await flows.close();
  process.exit(0);
});
