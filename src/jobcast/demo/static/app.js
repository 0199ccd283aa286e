/*
 * The jobcast demo page: start jobs, watch each one's progress (with its message and the time
 * left) and streamed output over Socket.IO, and pick them up again after a reload (ids kept
 * in localStorage; the server sends the output written meanwhile).
 * Server and user data only ever reach the DOM through textContent / setAttribute.
 */
(function () {
  "use strict";

  var STORE_KEY = "jobcast.jobs.v1";
  var STORE_CAP = 20;
  var TERMINAL = { completed: true, failed: true, cancelled: true, unknown: true };
  var POLL_MS = 3000;

  var client = jobcast.connect();
  var jobs = new Map(); // jobId -> job view model

  var listEl = document.getElementById("jobs");
  var emptyEl = document.getElementById("jobs-empty");
  var template = document.getElementById("job-template");
  var connEl = document.getElementById("connection");
  var connTextEl = document.getElementById("connection-text");

  // ---- storage -------------------------------------------------------------------------

  function loadStore() {
    try {
      var raw = window.localStorage.getItem(STORE_KEY);
      var list = raw ? JSON.parse(raw) : [];
      if (!Array.isArray(list)) return [];
      return list.filter(function (e) {
        return e && typeof e.id === "string" && e.id && typeof e.name === "string";
      });
    } catch (e) {
      return [];
    }
  }

  function saveStore(list) {
    try {
      window.localStorage.setItem(STORE_KEY, JSON.stringify(list.slice(0, STORE_CAP)));
    } catch (e) { /* storage full or disabled: the page still works without it */ }
  }

  function storeAdd(entry) {
    var list = loadStore().filter(function (e) { return e.id !== entry.id; });
    list.unshift(entry);
    saveStore(list);
  }

  function storeRemove(ids) {
    var drop = new Set(ids);
    saveStore(loadStore().filter(function (e) { return !drop.has(e.id); }));
  }

  // ---- formatting ----------------------------------------------------------------------

  function formatBytes(n) {
    n = Number(n);
    if (!isFinite(n) || n < 0) return "";
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
    return (n / (1024 * 1024)).toFixed(1) + " MiB";
  }

  function statusText(state, detail) {
    switch (state) {
      case "loading": return "loading…";
      case "waiting": return "waiting";
      case "delayed": return "delayed";
      case "active": return "running";
      case "completed": return "completed";
      case "failed": return "failed: " + (detail || "unknown error");
      case "cancelled": return "cancelled";
      case "unknown": return detail ? "unknown (" + detail + ")" : "unknown";
      default: return String(state);
    }
  }

  // ---- job cards -----------------------------------------------------------------------

  function createJob(entry, initialState) {
    var node = template.content.firstElementChild.cloneNode(true);
    var job = {
      entry: entry,
      state: null,
      progress: 0,
      watcher: null,
      final: false,
      cancelRequested: false,
      el: {
        root: node,
        name: node.querySelector(".job-name"),
        label: node.querySelector(".job-label"),
        id: node.querySelector(".job-id"),
        time: node.querySelector(".job-time"),
        progress: node.querySelector(".job-progress"),
        percent: node.querySelector(".job-percent"),
        status: node.querySelector(".job-status"),
        message: node.querySelector(".job-message"),
        output: node.querySelector(".job-output"),
        cancel: node.querySelector(".job-cancel"),
        result: node.querySelector(".job-result"),
      },
    };
    node.setAttribute("data-job-id", entry.id);
    node.setAttribute("data-job-name", entry.name);
    job.el.name.textContent = entry.name;
    job.el.label.textContent = entry.label || "";
    job.el.id.textContent = entry.id.slice(0, 8);
    job.el.id.setAttribute("title", entry.id);
    var started = new Date(entry.started || Date.now());
    job.el.time.setAttribute("datetime", started.toISOString());
    job.el.time.textContent = started.toLocaleTimeString();
    var progressId = "progress-" + entry.id.replace(/[^A-Za-z0-9_-]/g, "");
    job.el.progress.id = progressId;
    job.el.progress.setAttribute(
      "aria-label",
      "Progress of " + entry.name + (entry.label ? " \u201c" + entry.label + "\u201d" : "")
    );
    job.el.cancel.setAttribute(
      "aria-label",
      "Cancel " + entry.name + (entry.label ? " \u201c" + entry.label + "\u201d" : "")
    );
    job.el.cancel.addEventListener("click", function () { cancelJob(job); });

    setState(job, initialState || "waiting");
    jobs.set(entry.id, job);
    return job;
  }

  function insertCard(job, atTop) {
    if (atTop) listEl.prepend(job.el.root);
    else listEl.appendChild(job.el.root);
    updateEmpty();
  }

  function removeJob(job) {
    if (job.watcher) job.watcher.stop();
    job.watcher = null;
    jobs.delete(job.entry.id);
    if (job.el.root.parentNode) job.el.root.parentNode.removeChild(job.el.root);
    updateEmpty();
  }

  function updateEmpty() {
    emptyEl.hidden = listEl.children.length > 0;
  }

  function setProgress(job, value) {
    value = Number(value);
    if (!isFinite(value)) return;
    value = Math.max(0, Math.min(100, value));
    if (value < job.progress) return; // monotonic
    job.progress = value;
    job.el.progress.value = value;
    job.el.percent.textContent = Math.floor(value) + " %";
  }

  function formatLeft(seconds) {
    if (typeof seconds !== "number" || !isFinite(seconds)) return "";
    if (seconds < 1) return "almost done";
    if (seconds < 90) return "about " + Math.round(seconds) + " s left";
    return "about " + Math.round(seconds / 60) + " min left";
  }

  function setMessage(job, payload) {
    if (job.final || !payload) return;
    var bits = [];
    if (typeof payload.message === "string" && payload.message) bits.push(payload.message);
    var left = formatLeft(payload.eta);
    if (left) bits.push(left);
    job.el.message.textContent = bits.join(" \u00b7 ");
  }

  function appendOutput(job, text) {
    var box = job.el.output;
    box.hidden = false;
    // Keep the newest text in view unless the reader scrolled up to read.
    var atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    box.appendChild(document.createTextNode(String(text)));
    if (atBottom) box.scrollTop = box.scrollHeight;
  }

  function showStoredOutput(job) {
    jobcast.getOutput(job.entry.id).then(function (body) {
      (body && body.entries || []).forEach(function (e) { appendOutput(job, e.text); });
    }, function () { /* gone meanwhile: nothing to show */ });
  }

  function setState(job, state, detail) {
    job.state = state;
    job.el.root.setAttribute("data-state", state);
    var text = statusText(state, detail);
    if (state === "active" && job.attempt > 1) text += " (attempt " + job.attempt + ")";
    job.el.status.textContent = text;
    job.el.cancel.hidden = !!TERMINAL[state] || state === "loading";
  }

  function finalize(job, state, payload) {
    if (job.final) return;
    job.final = true;
    if (job.watcher) job.watcher.stop();
    job.watcher = null;
    job.el.result.textContent = "";
    job.el.message.textContent = "";
    if (state === "completed") {
      setProgress(job, 100);
      setState(job, "completed");
      renderResult(job, payload);
    } else if (state === "failed") {
      setState(job, "failed", payload);
    } else if (state === "cancelled") {
      setState(job, "cancelled");
    } else {
      setState(job, "unknown", payload);
    }
  }

  function renderResult(job, result) {
    var box = job.el.result;
    if (!result || typeof result !== "object") return;
    if (typeof result.url === "string" && !/^\s*(javascript|data|vbscript):/i.test(result.url)) {
      var a = document.createElement("a");
      a.className = "job-download";
      a.setAttribute("href", result.url);
      a.setAttribute("download", "");
      a.textContent = "Download PDF";
      box.appendChild(a);
      var bits = [];
      if (result.pages != null) bits.push(result.pages + (Number(result.pages) === 1 ? " page" : " pages"));
      if (result.bytes != null) bits.push(formatBytes(result.bytes));
      if (bits.length) {
        var info = document.createElement("span");
        info.className = "job-info";
        info.textContent = bits.join(" \u00b7 ");
        box.appendChild(info);
      }
    } else if (result.words != null) {
      var w = document.createElement("span");
      w.className = "job-info";
      w.textContent = result.words + " words \u00b7 " + result.chars + " characters";
      box.appendChild(w);
    } else if (result.items != null) {
      var p = document.createElement("span");
      p.className = "job-info";
      p.textContent = "Processed " + result.items + " items";
      box.appendChild(p);
    } else {
      var pre = document.createElement("span");
      pre.className = "job-info";
      pre.textContent = JSON.stringify(result);
      box.appendChild(pre);
    }
  }

  function applySnapshot(job, snap) {
    if (!snap || job.final) return;
    if (typeof snap.progress === "number") setProgress(job, snap.progress);
    setMessage(job, snap);
    switch (snap.state) {
      case "completed": finalize(job, "completed", snap.result); break;
      case "failed": finalize(job, "failed", snap.reason); break;
      case "cancelled": finalize(job, "cancelled"); break;
      case "unknown": finalize(job, "unknown"); break;
      case "active": setState(job, "active"); break;
      case "delayed": setState(job, "delayed"); break;
      default: setState(job, "waiting"); break;
    }
  }

  function watchJob(job) {
    if (job.final || job.watcher) return;
    job.watcher = jobcast.watch(client, job.entry.name, job.entry.id, {
      onProgress: function (value, payload) {
        if (job.final) return;
        var before = job.progress;
        setProgress(job, value);
        setMessage(job, payload);
        // After a retry, "retrying" stays until the new attempt moves the bar again.
        if (job.state !== "active" || (job.retrying && job.progress > before)) {
          job.retrying = false;
          setState(job, "active");
        }
      },
      onRetrying: function (attempt) {
        if (job.final) return;
        job.retrying = true;
        if (attempt != null) job.attempt = attempt;
        job.progress = -1; // the new attempt's progress starts again from 0
        setProgress(job, 0);
        setState(job, "active");
        job.el.status.textContent = "retrying (attempt " + attempt + ")";
      },
      onOutput: function (text) { appendOutput(job, text); },
      onCompleted: function (result) { finalize(job, "completed", result); },
      onFailed: function (reason) { finalize(job, "failed", reason); },
      onCancelled: function () { finalize(job, "cancelled"); },
      onJoin: function (ack) {
        if (job.final) return;
        if (ack && ack.ok) {
          // Terminal events come by themselves; a cancelled job may not send one.
          if (ack.state === "cancelled" || ack.state === "unknown") finalize(job, ack.state);
          else if (ack.state === "active" && job.state !== "active") setState(job, "active");
          return;
        }
        // Refused (e.g. expired): ask over HTTP what became of it.
        refresh(job, { dropIfGone: false });
      },
    });
  }

  function refresh(job, opts) {
    return jobcast.getJob(job.entry.id).then(
      function (snap) { applySnapshot(job, snap); },
      function (err) {
        if (err && err.status === 404) {
          if (opts && opts.dropIfGone) {
            storeRemove([job.entry.id]);
            removeJob(job);
          } else {
            finalize(job, "unknown", "expired");
          }
        }
        // Other errors (network, 503): keep the card; the socket may still deliver.
      }
    );
  }

  function cancelJob(job) {
    if (job.final || job.cancelRequested) return;
    job.cancelRequested = true;
    job.el.cancel.disabled = true;
    job.el.status.textContent = "cancelling…";
    jobcast.cancelJob(job.entry.id).then(
      function (body) {
        if (body && TERMINAL[body.state]) applySnapshot(job, body);
        pollUntilFinal(job, [300, 700, 1500, 3000, 5000]);
      },
      function (err) {
        job.cancelRequested = false;
        job.el.cancel.disabled = false;
        if (err && err.status === 404) { finalize(job, "unknown", "expired"); return; }
        if (!job.final) {
          setState(job, job.state);
          job.el.status.textContent = statusText(job.state) + " (cancel failed: " + err.message + ")";
        }
      }
    );
  }

  function pollUntilFinal(job, delays) {
    if (job.final || !delays.length) return;
    setTimeout(function () {
      if (job.final) return;
      refresh(job, { dropIfGone: false }).then(function () { pollUntilFinal(job, delays.slice(1)); });
    }, delays[0]);
  }

  // Polling fallback while the socket is down; the re-join on reconnect resyncs anyway.
  setInterval(function () {
    if (client.connected) return;
    jobs.forEach(function (job) {
      if (!job.final && job.state !== "loading") refresh(job, { dropIfGone: false });
    });
  }, POLL_MS);

  // ---- connection indicator ------------------------------------------------------------

  function showStatus(status) {
    connEl.setAttribute("data-status", status);
    connTextEl.textContent = status === "connecting" ? "connecting…" : status;
  }
  client.onStatus(showStatus);
  showStatus(client.connected ? "connected" : client.status);

  // ---- forms ---------------------------------------------------------------------------

  function toNumber(raw) {
    var s = String(raw).trim();
    if (s === "") return null;
    var n = Number(s);
    return isFinite(n) ? n : s; // let the server reject what is not a number
  }

  function readForm(form) {
    var name = form.getAttribute("data-job");
    var f = form.elements;
    if (name === "report") {
      var title = f.title.value;
      return { name: name, data: { title: title, pages: toNumber(f.pages.value) }, label: title.trim() };
    }
    if (name === "story") {
      var prompt = f.prompt.value;
      var words = toNumber(f.words.value);
      return { name: name, data: { prompt: prompt, words: words, word_ms: toNumber(f.word_ms.value) },
               label: (prompt.trim() || "untitled") + ", " + words + " words" };
    }
    var items = toNumber(f.items.value);
    var ms = toNumber(f.item_ms.value);
    return { name: name, data: { items: items, item_ms: ms }, label: items + " items \u00d7 " + ms + " ms" };
  }

  function clearError(form) {
    var box = form.querySelector(".form-error");
    box.textContent = "";
    box.hidden = true;
    Array.prototype.forEach.call(form.querySelectorAll("[aria-invalid]"), function (el) {
      el.removeAttribute("aria-invalid");
    });
  }

  function showError(form, err) {
    var box = form.querySelector(".form-error");
    box.textContent = "";
    var msg = document.createElement("p");
    msg.className = "form-error-message";
    if (err && err.status) {
      msg.textContent = err.message || "Request failed (" + err.status + ")";
    } else {
      msg.textContent = "Could not reach the server: " + ((err && err.message) || "network error");
    }
    box.appendChild(msg);
    var details = err && err.body && Array.isArray(err.body.details) ? err.body.details : [];
    if (details.length) {
      var ul = document.createElement("ul");
      details.forEach(function (d) {
        var field = d && d.field != null ? d.field : "";
        if (Array.isArray(field)) field = field.join(".");
        field = String(field);
        var li = document.createElement("li");
        li.textContent = (field ? field + ": " : "") + (d && d.message != null ? d.message : JSON.stringify(d));
        ul.appendChild(li);
        var input = form.elements[field.split(".").pop()];
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
      });
      box.appendChild(ul);
    }
    box.hidden = false;
  }

  function onSubmit(event) {
    event.preventDefault();
    var form = event.currentTarget;
    var button = form.querySelector("button[type=submit]");
    if (button.disabled) return;
    clearError(form);
    var req = readForm(form);
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    jobcast.start(req.name, req.data).then(
      function (body) {
        if (!body || typeof body.jobId !== "string") throw new Error("The server answered without a job id");
        var entry = { id: body.jobId, name: req.name, label: req.label, started: Date.now() };
        storeAdd(entry);
        var job = createJob(entry, "waiting");
        insertCard(job, true);
        watchJob(job);
      }
    ).catch(function (err) {
      showError(form, err);
    }).then(function () {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.job-form"), function (form) {
    form.addEventListener("submit", onSubmit);
  });

  document.getElementById("clear-finished").addEventListener("click", function () {
    var gone = [];
    jobs.forEach(function (job) {
      if (job.final) gone.push(job);
    });
    storeRemove(gone.map(function (j) { return j.entry.id; }));
    gone.forEach(removeJob);
  });

  // ---- restore after a reload ----------------------------------------------------------

  function restore() {
    var list = loadStore().sort(function (a, b) { return (b.started || 0) - (a.started || 0); });
    list.forEach(function (entry) {
      if (jobs.has(entry.id)) return;
      var job = createJob(entry, "loading");
      insertCard(job, false);
      jobcast.getJob(entry.id).then(
        function (snap) {
          applySnapshot(job, snap);
          if (!job.final) watchJob(job); // the join sends the output written so far
          else if (snap && snap.output > 0) showStoredOutput(job);
        },
        function (err) {
          if (err && err.status === 404) {
            storeRemove([entry.id]);
            removeJob(job);
            return;
          }
          // Server unreachable for now: show what we know and rely on the socket.
          setState(job, "waiting");
          watchJob(job);
        }
      );
    });
    updateEmpty();
  }

  restore();

  // For tests and the console.
  window.jobcastDemo = { client: client, jobs: jobs };
})();
