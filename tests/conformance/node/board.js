#!/usr/bin/env node
// Bull Board (@bull-board/api + @bull-board/express, pinned) pointed at a Redis, as a team would
// run it beside jobcast:
//
//   node board.js redis://127.0.0.1:6379/0 <port> <queue>[,<queue>...] [prefix]
//
// Its UI is at http://127.0.0.1:<port>/ and its JSON API under /api (what the tests drive).
'use strict';

const express = require('express');
const { Queue } = require('bullmq');
const { createBullBoard } = require('@bull-board/api');
const { BullMQAdapter } = require('@bull-board/api/bullMQAdapter');
const { ExpressAdapter } = require('@bull-board/express');

const [redisUrl, port, names, prefix = 'bull'] = process.argv.slice(2);
const url = new URL(redisUrl);
const connection = { host: url.hostname, port: Number(url.port || 6379),
                     db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
const serverAdapter = new ExpressAdapter();
serverAdapter.setBasePath('/');
createBullBoard({
  queues: names.split(',').map((n) => new BullMQAdapter(new Queue(n, { connection, prefix }))),
  serverAdapter,
});
const app = express();
app.use('/', serverAdapter.getRouter());
app.listen(Number(port), '127.0.0.1', () => process.stdout.write(`ready ${port}\n`));
