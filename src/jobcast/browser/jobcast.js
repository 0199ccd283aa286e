/*
 * jobcast.js: the browser client for jobcast (no framework, no build step).
 *
 * Load socket.io-client first (it defines the global `io`), then this file, from wherever
 * jobcast is mounted (here at the root; under a prefix, e.g. /jobs/jobcast/jobcast.js):
 *
 *   <script src="/jobcast/vendor/socket.io.min.js"></script>
 *   <script src="/jobcast/jobcast.js"></script>
 *
 *   const client = jobcast.connect();
 *   const { jobId } = await jobcast.start("report", { title: "Q3", pages: 20 });
 *   jobcast.watch(client, "report", jobId, {
 *     onProgress: (pct, p) => ...,         // monotonic, 0..100; p.message, p.eta (s left)
 *     onOutput: (text, p) => ...,          // streamed output, in order, each chunk once
 *     onLog: (line, p) => ...,             // log lines, in order, each once
 *     onCompleted: (result) => ...,        // at most once
 *     onFailed: (reason, payload) => ...,  // at most once; payload.state "failed" | "cancelled"
 *     onCancelled: (payload) => ...,       // optional: cancelled jobs call it instead
 *     onRetrying: (attempt, reason) => ...,
 *   });
 *
 * The base URL (API, Socket.IO path) defaults to where this script was loaded from, so a
 * page works the same whether jobcast is mounted at / or under a prefix.
 * The client keeps the set of joined rooms and re-joins all of them after a reconnect,
 * saying which output and log entries it has (the server then re-sends each job's current
 * state and only the entries it lacks).
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) module.exports = factory(root);
  else root.jobcast = factory(root);
})(typeof self !== "undefined" ? self : this, function (root) {
  "use strict";

  // Where jobcast is mounted: this script sits at <base>/jobcast/jobcast.js.
  var SCRIPT_BASE = (function () {
    var script = typeof document !== "undefined" ? document.currentScript : null;
    if (!script || !script.src) return "";
    var path = new URL(script.src, root.location && root.location.href).pathname;
    return path.replace(/\/jobcast\/jobcast\.js$/, "").replace(/\/+$/, "");
  })();

  function isTerminalEvent(event) {
    return typeof event === "string" && /:(completed|failed)$/.test(event);
  }

  function assign(target, source) {
    if (source) Object.keys(source).forEach(function (k) { target[k] = source[k]; });
    return target;
  }

  // ---- connection status ----------------------------------------------------------------

  function statusTracker(socket) {
    var status = socket.connected ? "connected" : "connecting";
    var listeners = [];
    function set(next) {
      if (next === status) return;
      status = next;
      listeners.slice().forEach(function (fn) {
        try { fn(next); } catch (e) { setTimeout(function () { throw e; }); }
      });
    }
    socket.on("connect", function () { set("connected"); });
    socket.on("disconnect", function (reason) {
      set(reason === "io client disconnect" ? "disconnected" : "reconnecting");
      // The server closed the socket on purpose; socket.io does not retry by itself.
      if (reason === "io server disconnect") socket.connect();
    });
    socket.on("connect_error", function () { set(socket.active ? "reconnecting" : "disconnected"); });
    if (socket.io && typeof socket.io.on === "function") {
      socket.io.on("reconnect_attempt", function () { set("reconnecting"); });
      socket.io.on("reconnect_failed", function () { set("disconnected"); });
    }
    return {
      get: function () { return status; },
      subscribe: function (fn) {
        listeners.push(fn);
        return function () {
          var i = listeners.indexOf(fn);
          if (i >= 0) listeners.splice(i, 1);
        };
      },
    };
  }

  // ---- rooms: joined once, re-joined on every reconnect -----------------------------------

  function roomBook(socket, ackTimeout, retryDelay) {
    // jobId -> { joinedOn: connection count of the last join, waiters: [resolve], terminal,
    //           positions: [fn() -> {after, logsAfter}] of the watchers of that job }
    var rooms = new Map();
    var connections = 0;

    function settle(jobId, ack) {
      var room = rooms.get(jobId);
      if (!room) return;
      var waiters = room.waiters;
      room.waiters = [];
      // Refused for good, or its terminal event already came: do not re-join it later.
      // A refusal with `retry` (the server's Redis is briefly away) keeps the room.
      if (ack.ok !== true && !ack.retry) rooms.delete(jobId);
      else if (room.terminal) rooms.delete(jobId);
      waiters.forEach(function (resolve) { resolve(ack); });
    }

    function send(jobId) {
      var room = rooms.get(jobId);
      if (!room || !socket.connected) return; // joined on the next `connect`
      var conn = (room.joinedOn = connections);
      socket.timeout(ackTimeout).emit("joinRoom", jobId, position(room), function (err, ack) {
        if (err) {
          // No ack in time: if the connection dropped meanwhile, the re-join answers.
          if (socket.connected && conn === connections) {
            settle(jobId, { ok: false, error: "joinRoom timed out" });
          }
          return;
        }
        settle(jobId, ack && typeof ack === "object" ? ack : { ok: false, error: "bad ack" });
        if (ack && ack.ok !== true && ack.retry) {
          setTimeout(function () {
            if (rooms.has(jobId) && conn === connections) send(jobId);
          }, retryDelay);
        }
      });
    }

    // What the socket has of the job's output and log: the least any of its watchers has
    // (each watcher drops what it already has, so more is harmless and less is a loss).
    function position(room) {
      var at = { after: Infinity, logsAfter: Infinity };
      room.positions.forEach(function (fn) {
        var p = fn();
        at.after = Math.min(at.after, p.after);
        at.logsAfter = Math.min(at.logsAfter, p.logsAfter);
        if (p.token) at.token = p.token; // a watch token, for a page without the app's session
      });
      if (at.after === Infinity) { at.after = -1; at.logsAfter = -1; }
      return at;
    }

    socket.on("connect", function () {
      connections += 1;
      rooms.forEach(function (room, jobId) { if (room.joinedOn !== connections) send(jobId); });
    });

    // Forget a room once its terminal event arrived (the server lets the socket leave).
    socket.onAny(function (event, payload) {
      if (!isTerminalEvent(event) || !payload || typeof payload.jobId !== "string") return;
      var room = rooms.get(payload.jobId);
      if (!room) return;
      if (room.waiters.length === 0) rooms.delete(payload.jobId);
      else room.terminal = true; // forgotten once the pending ack arrives
    });

    return {
      ids: function () { return Array.from(rooms.keys()); },
      join: function (jobId, positionFn) {
        return new Promise(function (resolve) {
          if (typeof jobId !== "string" || jobId === "") {
            resolve({ ok: false, error: "invalid job id" });
            return;
          }
          var room = rooms.get(jobId) || { joinedOn: -1, waiters: [], terminal: false, positions: [] };
          if (typeof positionFn === "function") room.positions.push(positionFn);
          rooms.set(jobId, room);
          room.waiters.push(resolve);
          room.terminal = false;
          room.joinedOn = -1; // an explicit join always reaches the server
          send(jobId);
        });
      },
      leave: function (jobId) {
        var room = rooms.get(jobId);
        rooms.delete(jobId);
        if (room) room.waiters.forEach(function (resolve) { resolve({ ok: false, error: "left" }); });
        if (socket.connected) socket.emit("leaveRoom", jobId);
      },
    };
  }

  /**
   * Open ONE Socket.IO connection and wrap it (the seed's useSocket surface).
   *
   * options:
   *   baseUrl     where jobcast is mounted (default: where this script came from)
   *   url         server origin (default: the page's own origin)
   *   path        Socket.IO path (default "<base>/socket.io/")
   *   io          the socket.io-client `io` function (default: the global `io`)
   *   ioOptions   extra options passed to io() (transports, auth, ...)
   *   ackTimeout  ms to wait for a joinRoom/cancel ack while connected (default 10000)
   */
  function connect(options) {
    options = options || {};
    var ioFn = options.io || root.io;
    if (typeof ioFn !== "function") {
      throw new Error("jobcast: socket.io-client is not loaded (global `io` missing)");
    }
    var base = apiBase(options);
    var ioOptions = assign({ path: options.path || base + "/socket.io/" }, options.ioOptions);
    var socket = options.url ? ioFn(options.url, ioOptions) : ioFn(ioOptions);
    var ackTimeout = options.ackTimeout == null ? 10000 : options.ackTimeout;
    var status = statusTracker(socket);
    var rooms = roomBook(socket, ackTimeout, options.retryDelay || 2000);

    var client = {
      socket: socket,
      get connected() { return socket.connected; },
      get status() { return status.get(); },
      get rooms() { return rooms.ids(); },
      /** Join the job's room; resolves with the server's ack {ok, state, output, logs} or
       *  {ok:false, error}. position() (optional) says what output and log this page has:
       *  {after: seq, logsAfter: seq}, asked again on each re-join. */
      joinRoom: rooms.join,
      leaveRoom: rooms.leave,
      /** Cancel a job: over the socket when connected, else with DELETE /api/jobs/{id}. */
      cancel: function (jobId) {
        if (!socket.connected) return cancelJob(jobId, options);
        return new Promise(function (resolve) {
          socket.timeout(ackTimeout).emit("cancel", jobId, function (err, ack) {
            if (!err) return resolve(ack);
            cancelJob(jobId, options).then(resolve, function (e) {
              resolve({ ok: false, error: e.message });
            });
          });
        });
      },
      on: function (event, fn) { socket.on(event, fn); return client; },
      once: function (event, fn) { socket.once(event, fn); return client; },
      off: function (event, fn) {
        if (fn === undefined) socket.off(event); else socket.off(event, fn);
        return client;
      },
      emit: function () { socket.emit.apply(socket, arguments); return client; },
      /** fn(status): "connecting", "connected", "reconnecting" or "disconnected". */
      onStatus: status.subscribe,
      close: function () { socket.disconnect(); },
    };
    return client;
  }

  /**
   * Join one job's room and dispatch only that job's events.
   * handlers: onProgress(pct, payload), onOutput(text, payload), onLog(line, payload),
   *           onCompleted(result, payload), onFailed(reason, payload), onCancelled(payload),
   *           onRetrying(attempt, reason, payload), onJoin(ack)
   * Progress is monotonic (payload.message, payload.eta in seconds, when the job gives them);
   * output and log entries arrive in order, each once, across reconnects (options.after and
   * options.logsAfter skip what the page already has, e.g. kept across a reload; options.token
   * is a watch token, the enqueue answer's watchToken, for a page without the app's session);
   * exactly one terminal callback, at most once.
   * Returns { ready: Promise<ack>, stop(), get progress(), get done(), get after(),
   *           get logsAfter() }.
   */
  function watch(client, jobName, jobId, handlers, options) {
    handlers = handlers || {};
    options = options || {};
    var lastProgress = -1;
    var seqs = { output: seqOption(options.after), log: seqOption(options.logsAfter) };
    var done = false;
    var stopped = false;
    var listeners = {};

    function mine(p) { return !stopped && !done && p && p.jobId === jobId; }
    function call(name, args) {
      if (typeof handlers[name] === "function") handlers[name].apply(null, args);
    }
    function detach() {
      Object.keys(listeners).forEach(function (ev) { client.off(ev, listeners[ev]); });
    }
    function finish() { done = true; detach(); }

    listeners[jobName + ":progress"] = function (p) {
      if (!mine(p)) return;
      var value = Math.max(0, Math.min(100, Number(p.progress)));
      if (!isFinite(value) || value < lastProgress) return;
      lastProgress = value;
      call("onProgress", [value, p]);
    };
    function entry(kind, field, handler) {
      return function (p) {
        if (!mine(p) || typeof p.seq !== "number" || p.seq <= seqs[kind]) return;
        seqs[kind] = p.seq;
        call(handler, [p[field], p]);
      };
    }
    listeners[jobName + ":output"] = entry("output", "text", "onOutput");
    listeners[jobName + ":log"] = entry("log", "line", "onLog");
    listeners[jobName + ":retrying"] = function (p) {
      if (!mine(p)) return;
      lastProgress = -1; // a new attempt starts from 0 (the server resets its count too)
      call("onRetrying", [p.attempt, p.reason, p]);
    };
    listeners[jobName + ":completed"] = function (p) {
      if (!mine(p)) return;
      finish();
      if (lastProgress < 100) {
        lastProgress = 100;
        call("onProgress", [100, p]);
      }
      call("onCompleted", [p.result, p]);
    };
    listeners[jobName + ":failed"] = function (p) {
      if (!mine(p)) return;
      finish();
      if (p.state === "cancelled" && typeof handlers.onCancelled === "function") call("onCancelled", [p]);
      else call("onFailed", [p.reason, p]);
    };
    Object.keys(listeners).forEach(function (ev) { client.on(ev, listeners[ev]); });

    var ready = client.joinRoom(jobId, function () {
      return { after: seqs.output, logsAfter: seqs.log, token: options.token };
    }).then(function (ack) {
      if (!stopped) call("onJoin", [ack]);
      return ack;
    });

    return {
      ready: ready,
      get progress() { return lastProgress < 0 ? 0 : lastProgress; },
      /** The last output chunk's and log line's seq received (-1: none). */
      get after() { return seqs.output; },
      get logsAfter() { return seqs.log; },
      get done() { return done; },
      stop: function () {
        if (stopped) return;
        stopped = true;
        detach();
        if (!done) client.leaveRoom(jobId);
      },
    };
  }

  function seqOption(value) {
    return typeof value === "number" && isFinite(value) && value >= -1 ? Math.floor(value) : -1;
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  function apiBase(options) {
    var base = options && options.baseUrl != null ? options.baseUrl : SCRIPT_BASE;
    return String(base).replace(/\/+$/, "");
  }

  function request(method, url, payload) {
    var init = { method: method, headers: { Accept: "application/json" } };
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    return fetch(url, init).then(function (res) {
      return res.text().then(function (text) {
        var body = null;
        if (text) {
          try { body = JSON.parse(text); } catch (e) { body = { error: text.slice(0, 500) }; }
        }
        if (!res.ok) {
          var err = new Error(body && typeof body.error === "string" ? body.error
                                                                       : res.status + " " + res.statusText);
          err.status = res.status;
          err.body = body;
          throw err;
        }
        return body;
      });
    });
  }

  /** POST /api/{jobName} → {jobId}; throws an Error with .status and .body on failure. */
  function start(jobName, data, options) {
    return request("POST", apiBase(options) + "/api/" + encodeURIComponent(jobName), data || {});
  }

  /** GET /api/jobs/{jobId} → {jobId, job, state, progress, result, reason}; 404 throws. */
  function getJob(jobId, options) {
    return request("GET", apiBase(options) + "/api/jobs/" + encodeURIComponent(jobId));
  }

  /** GET /api/jobs/{jobId}/output → {jobId, total, entries: [{seq, text}]} after seq `after`. */
  function getOutput(jobId, after, options) {
    var query = after == null ? "" : "?after=" + encodeURIComponent(after);
    return request("GET", apiBase(options) + "/api/jobs/" + encodeURIComponent(jobId) + "/output" + query);
  }

  /** DELETE /api/jobs/{jobId} → the job's status after the cancel request. */
  function cancelJob(jobId, options) {
    return request("DELETE", apiBase(options) + "/api/jobs/" + encodeURIComponent(jobId));
  }

  return {
    connect: connect,
    watch: watch,
    start: start,
    getJob: getJob,
    getOutput: getOutput,
    cancelJob: cancelJob,
    baseUrl: SCRIPT_BASE,
  };
});
