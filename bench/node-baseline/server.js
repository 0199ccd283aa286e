// Node baseline, web process: the seed's pattern.
//   POST /api/<job>  -> Queue.add(<job>, body) -> 202 {jobId}   (never runs job code)
//   one QueueEvents per queue, each event emitted into the Socket.IO room named by the job id
//   joinRoom(jobId)  -> socket.join(jobId); then (late-join fix) read the job once and send its
//                       terminal event, or its current progress, to this socket.
// The late-join fix is the naive one on purpose (it is what the seed would get): a job that
// completes between join and the snapshot read can reach the socket twice. The load generator
// counts those as `duplicates`. FIX_LATE_JOIN=0 turns the snapshot off (jobs then get lost).
//
// Env: REDIS_URL, PORT (3000), HOST (127.0.0.1), JOBS (bulk,report), FIX_LATE_JOIN (1).
const http = require('node:http');
const { Queue, QueueEvents, Job } = require('bullmq');
const { Server } = require('socket.io');
const { connectionFromEnv } = require('./redis-conn');

const connection = connectionFromEnv();
const PORT = Number(process.env.PORT) || 3000;
const HOST = process.env.HOST || '127.0.0.1';
const FIX_LATE_JOIN = (process.env.FIX_LATE_JOIN ?? '1') !== '0';
const JOB_NAMES = (process.env.JOBS || 'bulk,report').split(',').map(s => s.trim()).filter(Boolean);
const MAX_BODY = 64 * 1024;

const queues = new Map(JOB_NAMES.map(name => [name, new Queue(name, { connection })]));

function sendJson(res, status, obj, headers = {}) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY) throw Object.assign(new Error('body too large'), { status: 413 });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const server = http.createServer(async (req, res) => {
  const match = /^\/api\/([A-Za-z0-9_-]+)\/?(?:\?.*)?$/.exec(req.url);
  if (req.method !== 'POST' || !match) return sendJson(res, 404, { error: 'not found' });
  const name = match[1];
  const queue = queues.get(name);
  if (!queue) return sendJson(res, 404, { error: 'unknown job', job: name });
  let data;
  try {
    const text = await readBody(req);
    data = text ? JSON.parse(text) : {};
  } catch (err) {
    return sendJson(res, err.status || 400, { error: err.status ? err.message : 'invalid JSON' });
  }
  try {
    const job = await queue.add(name, data, { removeOnComplete: 1000, removeOnFail: 1000 });
    sendJson(res, 202, { jobId: job.id }, { location: `/api/jobs/${job.id}` });
  } catch (err) {
    sendJson(res, 503, { error: 'queue unavailable' });
  }
});

const io = new Server(server);

// Late join: the socket is in the room before we read, so a live event after the read reaches it;
// one that lands between join and read reaches it twice (snapshot + live) - the seed's race.
async function sendSnapshot(socket, jobId) {
  for (const [name, queue] of queues) {
    const job = await Job.fromId(queue, jobId);
    if (!job) continue;
    if (job.failedReason) {
      socket.emit(`${name}:failed`, { jobId: job.id, reason: job.failedReason });
    } else if (job.finishedOn) {
      socket.emit(`${name}:completed`, { jobId: job.id, result: job.returnvalue });
    } else if (typeof job.progress === 'number') {
      socket.emit(`${name}:progress`, { jobId: job.id, progress: job.progress });
    }
  }
}

io.on('connection', socket => {
  socket.on('joinRoom', async (rawId, ack) => {
    const jobId = String(rawId);
    socket.join(jobId);
    if (typeof ack === 'function') ack({ ok: true });
    if (!FIX_LATE_JOIN) return;
    try {
      await sendSnapshot(socket, jobId);
    } catch (err) {
      console.error('snapshot failed for', jobId, err.message);
    }
  });
  socket.on('leaveRoom', rawId => socket.leave(String(rawId)));
});

// The bridge: one QueueEvents (one XREAD BLOCK loop) per queue for the whole process.
const bridges = [];
for (const name of JOB_NAMES) {
  const events = new QueueEvents(name, { connection });
  events.on('progress', ({ jobId, data }) => {
    io.to(jobId).emit(`${name}:progress`, { jobId, progress: data });
  });
  events.on('completed', ({ jobId, returnvalue }) => {
    let result = returnvalue;
    if (typeof result === 'string') {
      try { result = JSON.parse(result); } catch { /* keep the string */ }
    }
    io.to(jobId).emit(`${name}:completed`, { jobId, result });
  });
  events.on('failed', ({ jobId, failedReason }) => {
    io.to(jobId).emit(`${name}:failed`, { jobId, reason: failedReason });
  });
  events.on('error', err => console.error(`QueueEvents(${name}) error:`, err.message));
  bridges.push(events);
}

server.listen(PORT, HOST, () => {
  console.log(`node-baseline web on http://${HOST}:${PORT} jobs=${JOB_NAMES.join(',')} lateJoinFix=${FIX_LATE_JOIN}`);
});

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  io.close();
  await Promise.allSettled([...bridges.map(b => b.close()), ...[...queues.values()].map(q => q.close())]);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
