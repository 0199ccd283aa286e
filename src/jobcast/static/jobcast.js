/*
 * jobcast.js: a small browser client for jobcast (no framework, no build step).
 *
 * Load socket.io-client first (it defines the global `io`), then this file:
 *
 *   <script src="/static/vendor/socket.io.min.js"></script>
 *   <script src="/static/jobcast.js"></script>
 *
 *   const client = jobcast.connect();
 *   const { jobId } = await jobcast.start("report", { title: "Q3", pages: 20 });
 *   jobcast.watch(client, "report", jobId, {
 *     onProgress: (pct) => ...,            // monotonic, 0..100
 *     onCompleted: (result) => ...,        // at most once
 *     onFailed: (reason) => ...,           // at most once
 *     onRetrying: (attempt, reason) => ...,
 *   });
 *
 * The client keeps the set of joined rooms and re-joins all of them after a reconnect
 * (the server then re-sends each job's current state). A room is forgotten locally once
 * its job's terminal event (`<job>:completed` / `<job>:failed`) arrived.
 */
(function (root, factory) {
  "use strict";
  if (typeof module === "object" && module.exports) {
    module.exports = factory(root);
  } else {
    root.jobcast = factory(root);
  }
})(typeof self !== "undefined" ? self : this, function (root) {
  "use strict";

  var TERMINAL_SUFFIXES = [":completed", ":failed", ":cancelled"];

  function isTerminalEvent(event) {
    if (typeof event !== "string") return false;
    for (var i = 0; i < TERMINAL_SUFFIXES.length; i++) {
      var s = TERMINAL_SUFFIXES[i];
      if (event.length > s.length && event.slice(-s.length) === s) return true;
    }
    return false;
  }

  /**
   * Open ONE Socket.IO connection and wrap it.
   *
   * options:
   *   url         server origin (default: the page's own origin)
   *   path        Socket.IO path (default "/socket.io/")
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
    var ackTimeout = options.ackTimeout == null ? 10000 : options.ackTimeout;
    var ioOptions = { path: options.path || "/socket.io/" };
    if (options.ioOptions) {
      for (var k in options.ioOptions) {
        if (Object.prototype.hasOwnProperty.call(options.ioOptions, k)) ioOptions[k] = options.ioOptions[k];
      }
    }
    var socket = options.url ? ioFn(options.url, ioOptions) : ioFn(ioOptions);

    // jobId -> { joinedOn: connection counter when last joined, waiters: [resolve] }
    var rooms = new Map();
    var retryDelay = options.retryDelay || 2000;
    var connectionCount = 0;
    var status = socket.connected ? "connected" : "connecting";
    var statusListeners = [];

    function setStatus(next) {
      if (next === status) return;
      status = next;
      statusListeners.slice().forEach(function (fn) {
        try { fn(next); } catch (e) { setTimeout(function () { throw e; }); }
      });
    }

    function settle(jobId, ack) {
      var room = rooms.get(jobId);
      if (!room) return;
      var waiters = room.waiters;
      room.waiters = [];
      // Refused for good, or its terminal event already came: do not re-join it later.
      // A refusal with `retry` (the server's Redis is briefly away) keeps the room.
      if (!ack || (ack.ok !== true && !ack.retry) || room.terminal) rooms.delete(jobId);
      waiters.forEach(function (resolve) { resolve(ack); });
    }

    function sendJoin(jobId) {
      var room = rooms.get(jobId);
      if (!room || !socket.connected) return; // joined on the next `connect`
      room.joinedOn = connectionCount;
      var conn = connectionCount;
      socket.timeout(ackTimeout).emit("joinRoom", jobId, function (err, ack) {
        if (err) {
          // No ack in time. If the connection dropped meanwhile, the re-join on
          // reconnect answers; otherwise report the timeout.
          if (socket.connected && conn === connectionCount) {
            settle(jobId, { ok: false, error: "joinRoom timed out" });
          }
          return;
        }
        settle(jobId, ack && typeof ack === "object" ? ack : { ok: false, error: "bad ack" });
        if (ack && ack.ok !== true && ack.retry) {
          setTimeout(function () {
            if (rooms.has(jobId) && conn === connectionCount) sendJoin(jobId);
          }, retryDelay);
        }
      });
    }

    socket.on("connect", function () {
      connectionCount += 1;
      setStatus("connected");
      // First connect: joins requested before it; later connects: re-join every room.
      rooms.forEach(function (room, jobId) {
        if (room.joinedOn !== connectionCount) sendJoin(jobId);
      });
    });

    socket.on("disconnect", function (reason) {
      if (reason === "io client disconnect") {
        setStatus("disconnected");
        return;
      }
      if (reason === "io server disconnect") {
        // The server closed the socket on purpose; socket.io does not retry by itself.
        setStatus("reconnecting");
        socket.connect();
        return;
      }
      setStatus("reconnecting");
    });

    socket.on("connect_error", function () {
      setStatus(socket.active ? "reconnecting" : "disconnected");
    });
    if (socket.io && typeof socket.io.on === "function") {
      socket.io.on("reconnect_attempt", function () { setStatus("reconnecting"); });
      socket.io.on("reconnect_failed", function () { setStatus("disconnected"); });
    }

    // Forget a room once its terminal event arrived (the server lets the socket leave).
    socket.onAny(function (event, payload) {
      if (isTerminalEvent(event) && payload && typeof payload.jobId === "string") {
        var room = rooms.get(payload.jobId);
        if (!room) return;
        if (room.waiters.length === 0) rooms.delete(payload.jobId);
        else room.terminal = true; // forgotten once the pending ack arrives
      }
    });

    var client = {
      socket: socket,

      get connected() { return socket.connected; },
      get status() { return status; },
      get rooms() { return Array.from(rooms.keys()); },

      /** Join the job's room; resolves with the server's ack {ok, state} or {ok:false, error}. */
      joinRoom: function (jobId) {
        return new Promise(function (resolve) {
          if (typeof jobId !== "string" || jobId === "") {
            resolve({ ok: false, error: "invalid job id" });
            return;
          }
          var room = rooms.get(jobId);
          if (!room) {
            room = { joinedOn: -1, waiters: [], terminal: false };
            rooms.set(jobId, room);
          }
          room.waiters.push(resolve);
          room.terminal = false;
          room.joinedOn = -1; // an explicit join always reaches the server
          sendJoin(jobId);
        });
      },

      leaveRoom: function (jobId) {
        var room = rooms.get(jobId);
        rooms.delete(jobId);
        if (room) room.waiters.forEach(function (resolve) { resolve({ ok: false, error: "left" }); });
        if (socket.connected) socket.emit("leaveRoom", jobId);
      },

      /** Cancel a job: over the socket when connected, else with DELETE /api/jobs/{id}. */
      cancel: function (jobId) {
        if (!socket.connected) return cancelJob(jobId, options);
        return new Promise(function (resolve) {
          socket.timeout(ackTimeout).emit("cancel", jobId, function (err, ack) {
            if (err) {
              cancelJob(jobId, options).then(resolve, function (e) {
                resolve({ ok: false, error: e.message });
              });
              return;
            }
            resolve(ack);
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

      /** fn(status) with status one of "connecting", "connected", "reconnecting", "disconnected". */
      onStatus: function (fn) {
        statusListeners.push(fn);
        return function unsubscribe() {
          var i = statusListeners.indexOf(fn);
          if (i >= 0) statusListeners.splice(i, 1);
        };
      },

      close: function () { socket.disconnect(); },
    };
    return client;
  }

  /**
   * Join one job's room and dispatch only that job's events.
   * handlers: onProgress(pct, payload), onCompleted(result, payload), onFailed(reason, payload),
   *           onRetrying(attempt, reason, payload), onCancelled(payload), onJoin(ack)
   * Progress is monotonic (a lower value is ignored); exactly one terminal callback, at most once.
   * Returns { ready: Promise<ack>, stop(), get progress(), get done() }.
   */
  function watch(client, jobName, jobId, handlers) {
    handlers = handlers || {};
    var lastProgress = -1;
    var done = false;
    var stopped = false;

    function mine(payload) {
      return !stopped && !done && payload && payload.jobId === jobId;
    }
    function call(name, args) {
      var fn = handlers[name];
      if (typeof fn === "function") fn.apply(null, args);
    }
    function finish() {
      done = true;
      detach();
    }

    var listeners = {};
    listeners[jobName + ":progress"] = function (p) {
      if (!mine(p)) return;
      var value = Number(p.progress);
      if (!isFinite(value)) return;
      value = Math.max(0, Math.min(100, value));
      if (value < lastProgress) return;
      lastProgress = value;
      call("onProgress", [value, p]);
    };
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
      call("onFailed", [p.reason, p]);
    };
    listeners[jobName + ":cancelled"] = function (p) {
      if (!mine(p)) return;
      finish();
      if (typeof handlers.onCancelled === "function") call("onCancelled", [p]);
      else call("onFailed", [p.reason || "cancelled", p]);
    };

    function detach() {
      Object.keys(listeners).forEach(function (ev) { client.off(ev, listeners[ev]); });
    }
    Object.keys(listeners).forEach(function (ev) { client.on(ev, listeners[ev]); });

    var ready = client.joinRoom(jobId).then(function (ack) {
      if (!stopped) call("onJoin", [ack]);
      return ack;
    });

    return {
      ready: ready,
      get progress() { return lastProgress < 0 ? 0 : lastProgress; },
      get done() { return done; },
      stop: function () {
        if (stopped) return;
        stopped = true;
        detach();
        if (!done) client.leaveRoom(jobId);
      },
    };
  }

  function apiBase(options) {
    var base = (options && options.baseUrl) || "";
    return base.replace(/\/+$/, "");
  }

  function httpError(res, body) {
    var message = body && typeof body.error === "string" ? body.error : res.status + " " + res.statusText;
    var err = new Error(message);
    err.status = res.status;
    err.body = body;
    return err;
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
        if (!res.ok) throw httpError(res, body);
        return body;
      });
    });
  }

  /** POST /api/{jobName} → {jobId}; throws an Error with .status and .body on failure. */
  function start(jobName, data, options) {
    return request("POST", apiBase(options) + "/api/" + encodeURIComponent(jobName), data || {});
  }

  /** GET /api/jobs/{jobId} → {jobId, job, state, progress, result, reason}; 404 throws (.status 404). */
  function getJob(jobId, options) {
    return request("GET", apiBase(options) + "/api/jobs/" + encodeURIComponent(jobId));
  }

  /** DELETE /api/jobs/{jobId} → the job's status after the cancel request. */
  function cancelJob(jobId, options) {
    return request("DELETE", apiBase(options) + "/api/jobs/" + encodeURIComponent(jobId));
  }

  return {
    version: "0.1.0",
    connect: connect,
    watch: watch,
    start: start,
    getJob: getJob,
    cancelJob: cancelJob,
  };
});
