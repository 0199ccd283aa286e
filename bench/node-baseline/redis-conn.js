// REDIS_URL -> ioredis connection options shared by the baseline's processes.
// maxRetriesPerRequest: null is what BullMQ requires for blocking connections.
function connectionFromEnv(env = process.env) {
  const u = new URL(env.REDIS_URL || 'redis://127.0.0.1:6379/0');
  const opts = {
    host: u.hostname || '127.0.0.1',
    port: Number(u.port) || 6379,
    db: Number(u.pathname.replace('/', '') || 0),
    maxRetriesPerRequest: null,
    enableReadyCheck: false,
  };
  if (u.username) opts.username = decodeURIComponent(u.username);
  if (u.password) opts.password = decodeURIComponent(u.password);
  return opts;
}
module.exports = { connectionFromEnv };
