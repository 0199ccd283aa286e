/* jobcast dashboard: the queues and their jobs, live.
 *
 * Everything it shows comes from /dashboard/api/ (relative URLs, so it works under any mount
 * prefix) and changes as the server pushes over the Socket.IO namespace /dashboard: "counts",
 * "jobs" (the rows on screen), "job" (the open job), "throughput". The server throttles those
 * pushes; the page re-reads a list only when its counts say it changed, at most once a second.
 * No data is ever put into HTML as markup: text goes in with textContent.
 */
(function () {
  "use strict";

  var STATES = ["waiting", "active", "delayed", "completed", "failed", "paused"];
  var PAGE = 25;
  var LATEST = 50;
  var REFETCH_MS = 1000;
  var BASE = location.pathname.replace(/dashboard\/.*$/, "");

  var state = {
    session: null, csrf: "", mayAct: false, counts: {}, throughput: {}, route: null,
    page: null, rows: new Map(), history: [], job: null, seqs: { output: -1, log: -1 },
    socket: null, plot: null, fetching: false, again: false, lastFetch: 0, timer: null,
  };

  // -- little helpers ---------------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === undefined || value === null || value === false) return;
        if (key === "text") el.textContent = String(value);
        else if (key === "class") el.className = value;
        else if (key === "on") Object.keys(value).forEach(function (n) { el.addEventListener(n, value[n]); });
        else if (key === "data") Object.keys(value).forEach(function (n) { el.dataset[n] = value[n]; });
        else el.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function num(n) { return (n || 0).toLocaleString("en"); }

  function ago(ms) {
    if (!ms) return "—";
    var s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 5) return "just now";
    if (s < 60) return Math.floor(s) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }

  function dur(ms) {
    if (ms === null || ms === undefined || ms < 0) return "—";
    if (ms < 1000) return Math.round(ms) + " ms";
    var s = ms / 1000;
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function when(ms) { return ms ? new Date(ms).toLocaleString() : "—"; }
  function json(value) { return value === undefined ? "" : JSON.stringify(value, null, 2); }
  function pct(p) { var v = Math.max(0, Math.min(100, Number(p) || 0)); return Math.round(v * 10) / 10; }

  function toast(text, kind) {
    var el = h("div", { class: "toast " + (kind || ""), role: kind === "error" ? "alert" : "status", text: text });
    $("toasts").appendChild(el);
    setTimeout(function () { el.remove(); }, kind === "error" ? 7000 : 3500);
  }

  async function api(path, options) {
    options = options || {};
    var init = { method: options.method || "GET", credentials: "same-origin",
                 headers: { Accept: "application/json" } };
    if (init.method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = state.csrf;
      init.body = JSON.stringify(options.body || {});
    }
    var response = await fetch("api/" + path, init);
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (response.status === 401) { location.href = "login"; }
    if (!response.ok) {
      var err = new Error((body && body.error) || response.status + " " + response.statusText);
      err.status = response.status;
      throw err;
    }
    return body;
  }

  function q(value) { return encodeURIComponent(value); }

  // -- routes: #/queue/<q>/<tab>?name=&search=&start=, #/job/<q>/<id> ----------------------

  function parseRoute() {
    var hash = location.hash.replace(/^#\/?/, "");
    var parts = hash.split("?");
    var path = parts[0].split("/").map(decodeURIComponent);
    var params = new URLSearchParams(parts[1] || "");
    var queues = state.session.queues.map(function (x) { return x.name; });
    if (path[0] === "job" && path[1] && path[2]) return { view: "job", queue: path[1], id: path[2] };
    var queue = path[0] === "queue" && queues.indexOf(path[1]) >= 0 ? path[1] : queues[0];
    var tab = path[2] && (path[2] === "latest" || STATES.indexOf(path[2]) >= 0) ? path[2] : "latest";
    return { view: queue ? "queue" : "none", queue: queue, tab: tab, name: params.get("name") || "",
             search: params.get("search") || "", start: Number(params.get("start") || 0) };
  }

  function queueHash(r) {
    var params = new URLSearchParams();
    if (r.name) params.set("name", r.name);
    if (r.search) params.set("search", r.search);
    if (r.start) params.set("start", String(r.start));
    var query = params.toString();
    return "#/queue/" + q(r.queue) + "/" + r.tab + (query ? "?" + query : "");
  }

  function go(r) { location.hash = queueHash(r); }
  function jobHash(queue, id) { return "#/job/" + q(queue) + "/" + q(id); }

  function showView(name) {
    ["queue-view", "job-view", "none-view"].forEach(function (v) { $(v).hidden = v !== name + "-view"; });
  }

  async function route() {
    var previous = state.route;
    var r = parseRoute();
    state.route = r;
    if (r.view === "job") {
      showView("job");
      renderSidebar();
      await openJob(r.queue, r.id);
      return;
    }
    state.job = null;
    if (r.view === "none") {
      showView("none");
      $("none-title").textContent = "No queues";
      $("none-text").textContent = "This application registers no jobs.";
      return;
    }
    showView("queue");
    if (!previous || previous.queue !== r.queue || previous.view !== "queue") {
      state.history = [];
      renderChart();
    }
    renderSidebar();
    renderQueue();
    await loadPage();
  }

  // -- the sidebar ------------------------------------------------------------------------

  function renderSidebar() {
    var list = clear($("queue-list"));
    state.session.queues.forEach(function (queue) {
      var c = state.counts[queue.name] || {};
      var chips = h("span", { class: "chips" });
      if (c.isPaused) chips.appendChild(h("span", { class: "chip paused", text: "paused" }));
      if (c.active) chips.appendChild(h("span", { class: "chip active", title: "active", text: num(c.active) }));
      if (c.waiting) chips.appendChild(h("span", { class: "chip", title: "waiting", text: num(c.waiting) }));
      if (c.failed) chips.appendChild(h("span", { class: "chip failed", title: "failed", text: num(c.failed) }));
      var current = state.route && state.route.queue === queue.name;
      list.appendChild(h("li", null, h("a", {
        class: "queue-link", href: "#/queue/" + q(queue.name), "aria-current": current ? "page" : null,
        data: { queue: queue.name } }, h("span", { text: queue.name }), chips)));
    });
  }

  // -- a queue ----------------------------------------------------------------------------

  function renderQueue() {
    var r = state.route;
    var c = state.counts[r.queue] || {};
    var info = state.session.queues.filter(function (x) { return x.name === r.queue; })[0] || { jobs: [] };
    $("queue-name").textContent = r.queue;
    $("queue-jobs").textContent = info.jobs.length ? "jobs: " + info.jobs.join(", ") : "";
    $("queue-paused").hidden = !c.isPaused;
    $("pause").hidden = !!c.isPaused || !state.mayAct;
    $("resume").hidden = !c.isPaused || !state.mayAct;

    var cards = clear($("cards"));
    STATES.forEach(function (s) {
      cards.appendChild(h("button", {
        class: "card " + s, type: "button", "aria-pressed": r.tab === s ? "true" : "false",
        data: { state: s }, on: { click: function () { go({ queue: r.queue, tab: s }); } } },
        h("div", { class: "card-label", text: s }),
        h("div", { class: "card-value", text: num(c[s]) })));
    });

    var tabs = clear($("tabs"));
    ["latest"].concat(STATES).forEach(function (s) {
      tabs.appendChild(h("button", {
        class: "tab", type: "button", role: "tab", "aria-selected": r.tab === s ? "true" : "false",
        data: { tab: s }, on: { click: function () { go({ queue: r.queue, tab: s, name: r.name }); } } },
        h("span", { text: s }), s === "latest" ? null : h("span", { class: "count", text: num(c[s]) })));
    });

    var select = clear($("name-filter"));
    select.appendChild(h("option", { value: "", text: "All jobs" }));
    info.jobs.forEach(function (name) {
      select.appendChild(h("option", { value: name, text: name, selected: name === r.name ? true : null }));
    });
    select.value = r.name;
    $("search").value = r.search;
    renderBulk();
  }

  function renderBulk() {
    var r = state.route;
    var bulk = clear($("bulk"));
    if (!state.mayAct || r.tab === "latest") return;
    var filtered = !!(r.name || r.search);
    var which = filtered ? "matching" : "all";
    var actions = state.session.bulk;
    Object.keys(actions).forEach(function (action) {
      if (action === "remove" || actions[action].indexOf(r.tab) < 0) return;
      var label = { retry: "Retry " + which, cancel: "Cancel " + which, promote: "Promote " + which }[action];
      bulk.appendChild(h("button", { class: "button" + (action === "cancel" ? " quiet danger-text" : ""),
        type: "button", data: { bulk: action }, text: label,
        on: { click: function () { bulkAction(action); } } }));
    });
    if (state.session.cleanable.indexOf(r.tab) >= 0) {
      bulk.appendChild(h("button", { class: "button quiet danger-text", type: "button", data: { clean: r.tab },
        text: "Clean…", on: { click: cleanAction } }));
    }
  }

  async function loadPage() {
    var r = state.route;
    if (!r || r.view !== "queue") return;
    if (state.fetching) { state.again = true; return; }
    state.fetching = true;
    state.lastFetch = Date.now();
    var params = new URLSearchParams({ state: r.tab, limit: String(r.tab === "latest" ? LATEST : PAGE),
                                       start: String(r.start || 0) });
    if (r.name) params.set("name", r.name);
    if (r.search) params.set("search", r.search);
    try {
      var page = await api("queues/" + q(r.queue) + "/jobs?" + params.toString());
      if (state.route === r) { state.page = page; renderRows(); }
    } catch (err) {
      toast(err.message, "error");
    } finally {
      state.fetching = false;
      if (state.again) { state.again = false; scheduleRefetch(); }
    }
  }

  function scheduleRefetch() {
    if (state.timer) return;
    var wait = Math.max(0, REFETCH_MS - (Date.now() - state.lastFetch));
    state.timer = setTimeout(function () { state.timer = null; loadPage(); }, wait);
  }

  function renderRows() {
    var page = state.page;
    var r = state.route;
    var body = clear($("rows"));
    state.rows = new Map();
    page.jobs.forEach(function (job) {
      var tr = renderRow(job);
      state.rows.set(job.id, { job: job, tr: tr });
      body.appendChild(tr);
    });
    var empty = $("empty");
    empty.hidden = page.jobs.length > 0;
    if (!page.jobs.length) {
      empty.textContent = page.filtered && page.next !== null
        ? "No match among these " + num(page.scanned) + " jobs: look further with “Older →”."
        : (page.filtered ? "No job matches." : "No " + (r.tab === "latest" ? "" : r.tab + " ") + "jobs.");
    }
    var info = $("page-info");
    if (r.tab === "latest") {
      info.textContent = "The newest " + num(page.jobs.length) + " of " + num(page.total) +
        " jobs — pick a state to page through all of them";
    } else if (page.filtered) {
      info.textContent = num(page.jobs.length) + " match" + (page.jobs.length === 1 ? "" : "es") +
        ", " + num(page.scanned) + " of " + num(page.total) + " " + r.tab + " jobs read from #" + num(page.start + 1);
    } else {
      info.textContent = page.total ? num(page.start + 1) + "–" + num(page.start + page.jobs.length) +
        " of " + num(page.total) : "";
    }
    $("prev").disabled = !(r.start > 0);
    $("next").disabled = page.next === null || page.next === undefined;
    sendView();
  }

  function stateOf(job) { return job.state; }

  function renderRow(job) {
    var s = stateOf(job);
    var tr = h("tr", { data: { jobId: job.id, state: s } });
    var cell = h("div", { class: "job-cell" },
      h("a", { href: jobHash(job.queue, job.id), text: job.name || job.queue }),
      h("span", { class: "id", text: job.id }),
      job.preview ? h("span", { class: "preview", title: job.preview, text: job.preview }) : null,
      job.reason ? h("span", { class: "row-reason", title: job.reason, text: job.reason }) : null);
    tr.appendChild(h("td", null, cell));
    tr.appendChild(h("td", null, h("span", { class: "badge " + s, text: s })));
    var fill = h("div", { class: "fill" });
    fill.style.width = pct(s === "completed" ? 100 : job.progress) + "%";
    tr.appendChild(h("td", null, h("div", { class: "progress-cell" },
      h("div", { class: "bar " + s }, fill),
      h("div", { class: "line" },
        h("span", { class: "pct", text: pct(s === "completed" ? 100 : job.progress) + "%" }),
        h("span", { class: "msg", title: job.message || "", text: job.message || "" })))));
    tr.appendChild(h("td", { text: (job.attemptsMade || 0) + " / " + (job.attempts || 1) }));
    tr.appendChild(h("td", { title: when(job.createdAt), data: { ago: job.createdAt || "" }, text: ago(job.createdAt) }));
    tr.appendChild(h("td", { text: took(job) }));
    tr.appendChild(h("td", { class: "col-actions" }, rowActions(job)));
    return tr;
  }

  function took(job) {
    if (job.state === "delayed" && job.dueAt) return "in " + dur(job.dueAt - Date.now());
    if (job.finishedAt && job.processedAt) return dur(job.finishedAt - job.processedAt);
    if (job.state === "active" && job.processedAt) return dur(Date.now() - job.processedAt) + "…";
    return "—";
  }

  function actionsFor(s) {
    return {
      failed: ["retry", "remove"], cancelled: ["retry", "remove"], waiting: ["cancel"],
      paused: ["cancel"], active: ["cancel"], delayed: ["promote", "cancel"], completed: ["remove"],
    }[s] || [];
  }

  var LABELS = { retry: "Retry", cancel: "Cancel", promote: "Run now", remove: "Remove" };

  function rowActions(job) {
    var box = h("span", { class: "row-actions" });
    if (!state.mayAct) return box;
    actionsFor(stateOf(job)).forEach(function (action) {
      box.appendChild(h("button", {
        class: "button small quiet" + (action === "remove" || action === "cancel" ? " danger-text" : ""),
        type: "button", data: { action: action }, "aria-label": LABELS[action] + " " + job.id,
        title: LABELS[action], text: LABELS[action],
        on: { click: function () { jobAction(job, action); } } }));
    });
    return box;
  }

  function applyRow(change) {
    var entry = state.rows.get(change.id);
    if (!entry) return;
    var job = Object.assign({}, entry.job);
    Object.keys(change).forEach(function (k) { if (change[k] !== undefined) job[k] = change[k]; });
    if (change.state === "active" && entry.job.state !== "active") { job.processedAt = Date.now(); job.progress = change.progress || 0; }
    if (change.state === "completed" || change.state === "failed" || change.state === "cancelled") {
      job.finishedAt = job.finishedAt || Date.now();
      if (change.state !== "completed") job.attemptsMade = (job.attemptsMade || 0) + (entry.job.state === "active" ? 1 : 0);
    }
    if (change.state === "removed") job.state = "removed";
    var tr = renderRow(job);
    var r = state.route;
    var moved = job.state !== entry.job.state;
    if (moved && r.tab !== "latest" && job.state !== r.tab && !(r.tab === "failed" && job.state === "cancelled")) {
      tr.classList.add("left");
      scheduleRefetch();
    }
    entry.tr.replaceWith(tr);
    state.rows.set(job.id, { job: job, tr: tr });
    if (moved) {  // a flash where a row changed state (progress alone just moves its bar)
      tr.classList.add("changed");
      setTimeout(function () { tr.classList.remove("changed"); }, 900);
    }
  }

  function sendView() {
    if (!state.socket || !state.socket.connected) return;
    var ids = state.route && state.route.view === "queue" ? Array.from(state.rows.keys()) : [];
    state.socket.emit("view", { jobs: ids, job: state.job ? state.job.id : null });
  }

  // -- actions ----------------------------------------------------------------------------

  var dialog = null;

  function ask(title, text, ok, extra) {
    dialog = dialog || $("confirm");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = ok;
    var slot = clear($("confirm-extra"));
    if (extra) slot.appendChild(extra);
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function done() {
        dialog.removeEventListener("close", done);
        resolve(dialog.returnValue === "yes");
      });
      dialog.showModal();
    });
  }

  var ASKS = {
    cancel: ["Cancel this job?", "A waiting job is removed; a running one is stopped by its worker. It ends as cancelled.", "Cancel job"],
    remove: ["Remove this job?", "Its record, data, result and logs are deleted for good.", "Remove job"],
  };

  async function jobAction(job, action) {
    if (ASKS[action]) {
      var a = ASKS[action];
      if (!(await ask(a[0], a[1] + "\n\n" + (job.name || "") + " " + job.id, a[2]))) return;
    }
    try {
      var result = await api("queues/" + q(job.queue) + "/jobs/" + q(job.id) + "/" + action, { method: "POST" });
      var done = { retry: "Retried", promote: "Promoted", remove: "Removed", cancel: "Cancelled" }[action];
      toast(done + " " + job.id + (action === "cancel" && result && !result.stopped ? " (its worker is stopping it)" : ""));
      if (action === "remove" && state.route.view === "job") { history.back(); return; }
      if (state.route.view === "job") await openJob(job.queue, job.id); else scheduleRefetch();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function bulkAction(action) {
    var r = state.route;
    var count = (state.counts[r.queue] || {})[r.tab] || 0;
    var filtered = !!(r.name || r.search);
    var what = filtered ? "every " + r.tab + " job of " + r.queue + " that matches " +
      [r.name && "name " + r.name, r.search && "“" + r.search + "”"].filter(Boolean).join(" and ")
      : "all " + num(count) + " " + r.tab + " jobs of " + r.queue;
    var verb = { retry: "Retry", cancel: "Cancel", promote: "Run now" }[action];
    var note = action === "cancel" ? " They end as cancelled; running ones are stopped by their workers." : "";
    if (!(await ask(verb + " " + (filtered ? "matching jobs" : "all") + "?", verb + " " + what + "." + note,
                    verb + (filtered ? " matching" : " all")))) return;
    try {
      var result = await api("queues/" + q(r.queue) + "/bulk", { method: "POST",
        body: { action: action, state: r.tab, name: r.name || null, search: r.search || null } });
      toast(verb + ": " + num(result.done) + " of " + num(result.selected) + " jobs" +
            (result.more ? " (more are left: run it again)" : ""));
      scheduleRefetch();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function cleanAction() {
    var r = state.route;
    var select = h("select", { id: "clean-age", "aria-label": "Older than" },
      h("option", { value: "0", text: "all of them" }),
      h("option", { value: "3600", text: "older than 1 hour" }),
      h("option", { value: "86400", text: "older than 1 day" }),
      h("option", { value: "604800", text: "older than 7 days" }));
    if (!(await ask("Clean " + r.tab + " jobs?", "Delete the " + r.tab + " jobs of " + r.queue +
                    " for good, with their data and logs:", "Delete them", select))) return;
    try {
      var result = await api("queues/" + q(r.queue) + "/clean", { method: "POST",
        body: { state: r.tab, olderThanS: Number(select.value) } });
      toast("Removed " + num(result.removed) + " " + r.tab + " jobs");
      scheduleRefetch();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  async function queueAction(action) {
    var r = state.route;
    try {
      await api("queues/" + q(r.queue) + "/" + action, { method: "POST" });
      toast((action === "pause" ? "Paused " : "Resumed ") + r.queue);
      var counts = await api("queues");
      counts.queues.forEach(function (c) { state.counts[c.queue] = c; });
      renderSidebar();
      renderQueue();
      scheduleRefetch();
    } catch (err) {
      toast(err.message, "error");
    }
  }

  // -- the chart --------------------------------------------------------------------------

  function renderChart() {
    var el = $("chart");
    var r = state.route;
    var t = r && state.throughput[r.queue];
    if (!t || typeof uPlot === "undefined") return;
    var xs = t.completed.map(function (_, i) { return t.startMs / 1000 + i * 60; });
    var data = [xs, t.completed, t.failed];
    $("sum-completed").textContent = num(t.completed.reduce(function (a, b) { return a + b; }, 0));
    $("sum-failed").textContent = num(t.failed.reduce(function (a, b) { return a + b; }, 0));
    $("chart-source").textContent = t.source === "metrics"
      ? "Counted by BullMQ's own per-minute metrics (exact)."
      : "Counted from the finished jobs Redis still keeps (JOBCAST_KEEP_COMPLETED, JOBCAST_KEEP_FAILED); " +
        "set JOBCAST_METRICS_DATA_POINTS=60 on the workers for exact counts.";
    if (state.plot && state.plotQueue === r.queue) { state.plot.setData(data); return; }
    if (state.plot) state.plot.destroy();
    var bars = uPlot.paths.bars;
    var axis = { stroke: "#7d84a0", grid: { stroke: "#eef0f6", width: 1 }, ticks: { stroke: "#e4e7f0", width: 1 },
                 font: "11px system-ui, sans-serif" };
    state.plot = new uPlot({
      width: Math.max(320, el.clientWidth), height: 190, legend: { show: false },
      cursor: { points: { show: false }, y: false },
      scales: { x: { time: true, range: function (u, min, max) { return [min - 45, max + 45]; } }, y: { range: function (u, min, max) { return [0, Math.max(4, Math.ceil(max * 1.15))]; } } },
      axes: [Object.assign({}, axis, { space: 70 }), Object.assign({}, axis, { size: 44, space: 30,
        incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6] })],
      series: [
        {},
        { label: "completed", stroke: "#059669", fill: "rgba(5, 150, 105, 0.55)", width: 0, points: { show: false },
          paths: bars({ size: [0.42, 16], align: -1, gap: 1 }) },
        { label: "failed", stroke: "#dc2626", fill: "rgba(220, 38, 38, 0.6)", width: 0, points: { show: false },
          paths: bars({ size: [0.42, 16], align: 1, gap: 1 }) },
      ],
    }, data, clear(el));
    state.plotQueue = r.queue;
  }

  // -- one job ----------------------------------------------------------------------------

  async function openJob(queue, id) {
    var job;
    try {
      job = await api("jobs/" + q(id) + "?queue=" + q(queue));
    } catch (err) {
      state.job = null;
      if (err.status === 404) {
        showView("none");
        $("none-title").textContent = "No such job";
        $("none-text").textContent = "Job " + id + " is not in queue " + queue + " (it may have been removed).";
        return;
      }
      toast(err.message, "error");
      return;
    }
    state.job = job;
    state.seqs = { output: -1, log: -1 };
    $("back").href = "#/queue/" + q(job.queue);
    $("back").textContent = "← " + job.queue;
    $("job-name").textContent = job.name || job.queue;
    $("job-id").textContent = job.id;
    $("job-data").textContent = json(job.data) + (job.dataTruncated ? "\n… (cut: the whole is in Redis)" : "");
    $("job-opts").textContent = json(job.opts);
    clear($("job-output"));
    clear($("job-logs"));
    appendEntries("output", job.output);
    appendEntries("log", job.logs);
    renderJob();
    sendView();
  }

  function renderJob() {
    var job = state.job;
    var s = job.state;
    var badge = $("job-state");
    badge.className = "badge " + s;
    badge.textContent = s + (job.queuePaused && s === "paused" ? " (queue paused)" : "");
    $("job-sub").textContent = "queue " + job.queue + " · added " + ago(job.createdAt);
    var p = pct(s === "completed" ? 100 : job.progress);
    $("job-bar").style.width = p + "%";
    $("job-percent").textContent = p + "%";
    $("job-message").textContent = job.message || "";
    $("job-eta").textContent = job.eta && s === "active" ? "about " + dur(job.eta * 1000) + " left" : "";
    facts($("job-timings"), [
      ["Added", when(job.createdAt)], ["Started", when(job.processedAt)], ["Finished", when(job.finishedAt)],
      ["Waited", job.processedAt && job.createdAt ? dur(job.processedAt - job.createdAt) : "—"],
      ["Ran", job.finishedAt && job.processedAt ? dur(job.finishedAt - job.processedAt) : "—"],
      s === "delayed" ? ["Runs", when(job.dueAt)] : null]);
    facts($("job-attempts"), [
      ["Made", (job.attemptsMade || 0) + " (" + (job.attempts || 1) + " allowed" +
                ((job.attemptsMade || 0) > (job.attempts || 1) ? ", then retried by hand)" : ")")], ["Started", String(job.attemptsStarted || 0)],
      ["Stalled", String(job.stalled || 0)], job.priority ? ["Priority", String(job.priority)] : null,
      job.delay ? ["Delay", dur(job.delay)] : null]);
    facts($("job-worker"), [
      ["Running on", job.worker === "jobcast" ? "a jobcast worker" : (job.worker || "—")],
      ["Last taken by", job.processedBy || "—"],
      job.parent ? ["Parent", job.parent] : null]);
    var failed = s === "failed" || s === "cancelled";
    $("job-failure").hidden = !failed && !(job.stacktrace && job.stacktrace.length);
    $("job-reason").textContent = job.reason || "";
    $("job-stack").textContent = (job.stacktrace || []).join("\n\n") || "(no stack)";
    $("job-result").textContent = job.result === null || job.result === undefined
      ? ({ completed: "null", failed: "— none: it failed —", cancelled: "— none: it was cancelled —" }[s] ||
         "— not finished yet —") : json(job.result) + (job.resultTruncated ? "\n… (cut)" : "");
    renderEntryCounts();
    var actions = clear($("job-actions"));
    if (state.mayAct) {
      actionsFor(s).forEach(function (action) {
        actions.appendChild(h("button", { class: "button" + (action === "remove" || action === "cancel" ? " danger" : " primary"),
          type: "button", data: { action: action }, text: LABELS[action],
          on: { click: function () { jobAction(job, action); } } }));
      });
    }
  }

  function renderEntryCounts() {
    var job = state.job;
    function label(count, first, one, many) {
      if (!count) return "";
      var shown = first > 0 ? "the newest " + num(count - first) + " of " : "";  // a tail only
      return "· " + shown + num(count) + (count === 1 ? one : many);
    }
    $("job-output-count").textContent = label(job.outputCount, firstSeq(job.output), " entry", " entries");
    $("job-log-count").textContent = label(job.logCount, firstSeq(job.logs), " line", " lines");
  }

  function firstSeq(entries) { return entries && entries.length ? entries[0].seq : 0; }

  function facts(dl, items) {
    clear(dl);
    items.forEach(function (item) {
      if (!item) return;
      dl.appendChild(h("dt", { text: item[0] }));
      dl.appendChild(h("dd", { text: item[1] }));
    });
  }

  function appendEntries(kind, entries) {
    var box = kind === "output" ? $("job-output") : $("job-logs");
    (entries || []).forEach(function (e) {
      if (e.seq <= state.seqs[kind]) return;
      state.seqs[kind] = e.seq;
      if (kind === "output") box.appendChild(document.createTextNode(e.text));
      else box.appendChild(h("li", { value: String(e.seq + 1), text: e.text }));
    });
    box.scrollTop = box.scrollHeight;
    var job = state.job;
    if (job) {  // the counts move with what arrives live (seqs count from 0)
      var key = kind === "output" ? "outputCount" : "logCount";
      job[key] = Math.max(job[key] || 0, state.seqs[kind] + 1);
      renderEntryCounts();
    }
  }

  async function fetchEntries(kind) {
    var job = state.job;
    if (!job) return;
    try {
      var found = await api("queues/" + q(job.queue) + "/jobs/" + q(job.id) + "/entries?kind=" + kind +
                            "&after=" + state.seqs[kind]);
      if (state.job === job) appendEntries(kind, found.entries);
    } catch (err) { toast(err.message, "error"); }
  }

  function applyJob(change) {
    var job = state.job;
    if (!job || change.id !== job.id) return;
    var was = job.state;
    ["state", "progress", "message", "reason"].forEach(function (k) { if (change[k] !== undefined) job[k] = change[k]; });
    var gaps = {};
    (change.entries || []).forEach(function (e) {
      if (e.gap) { gaps.output = gaps.log = true; return; }
      if (e.seq > state.seqs[e.kind] + 1) gaps[e.kind] = true;
      else if (!gaps[e.kind]) appendEntries(e.kind, [e]);
    });
    Object.keys(gaps).forEach(fetchEntries);
    if (change.state && change.state !== was) openJob(job.queue, job.id);  // timings, result, stack
    else renderJob();
  }

  // -- live -------------------------------------------------------------------------------

  function connect() {
    var live = $("live");
    var socket = io(location.origin + "/dashboard", { path: BASE + "socket.io/",
                                                     transports: ["websocket", "polling"] });
    state.socket = socket;
    function status(s, text) { live.dataset.status = s; live.querySelector(".live-text").textContent = text; }
    socket.on("connect", function () {
      status("connected", "live");
      sendView();
      refreshAll();  // whatever was missed while away
    });
    socket.on("disconnect", function () { status("disconnected", "reconnecting…"); });
    socket.on("connect_error", function (err) { status("disconnected", "offline: " + err.message); });
    socket.on("counts", function (msg) {
      var r = state.route;
      var before = r && state.counts[r.queue];
      msg.queues.forEach(function (c) { state.counts[c.queue] = c; });
      renderSidebar();
      if (!r || r.view !== "queue") return;
      var after = state.counts[r.queue];
      if (!before || !after) return;
      updateCounts(before, after);
      if (!r.start && !r.name && !r.search) {
        var changed = r.tab === "latest"
          ? STATES.some(function (s) { return before[s] !== after[s]; })
          : before[r.tab] !== after[r.tab];
        if (changed) scheduleRefetch();
      }
    });
    socket.on("jobs", function (msg) { msg.jobs.forEach(applyRow); });
    socket.on("job", applyJob);
    socket.on("throughput", function (msg) {
      Object.keys(msg.queues).forEach(function (name) { state.throughput[name] = msg.queues[name]; });
      if (state.route && state.route.view === "queue") renderChart();
    });
  }

  function updateCounts(before, after) {
    var r = state.route;
    if (before.isPaused !== after.isPaused) { renderQueue(); return; }
    STATES.forEach(function (s) {
      if (before[s] === after[s]) return;
      var card = document.querySelector('.card[data-state="' + s + '"]');
      if (card) {
        card.querySelector(".card-value").textContent = num(after[s]);
        card.classList.remove("bump");
        void card.offsetWidth;
        card.classList.add("bump");
      }
      var tab = document.querySelector('.tab[data-tab="' + s + '"] .count');
      if (tab) tab.textContent = num(after[s]);
    });
    if (r.tab !== "latest") renderBulk();
  }

  async function refreshAll() {
    try {
      var results = await Promise.all([api("queues"), api("throughput")]);
      results[0].queues.forEach(function (c) { state.counts[c.queue] = c; });
      state.throughput = results[1].queues;
      renderSidebar();
      if (state.route && state.route.view === "queue") { renderQueue(); renderChart(); await loadPage(); }
      else if (state.job) await openJob(state.job.queue, state.job.id);
    } catch (err) { toast(err.message, "error"); }
  }

  // -- start ------------------------------------------------------------------------------

  function wire() {
    $("filters").addEventListener("submit", function (e) {
      e.preventDefault();
      var r = state.route;
      go({ queue: r.queue, tab: r.tab, name: $("name-filter").value, search: $("search").value.trim() });
    });
    $("name-filter").addEventListener("change", function () {
      var r = state.route;
      go({ queue: r.queue, tab: r.tab, name: $("name-filter").value, search: $("search").value.trim() });
    });
    $("prev").addEventListener("click", function () {
      var r = state.route;
      var start = state.page && state.page.filtered ? (state.history.pop() || 0) : Math.max(0, r.start - PAGE);
      go(Object.assign({}, r, { start: start }));
    });
    $("next").addEventListener("click", function () {
      var r = state.route;
      if (!state.page || state.page.next === null) return;
      state.history.push(r.start || 0);
      go(Object.assign({}, r, { start: state.page.next }));
    });
    $("pause").addEventListener("click", function () { queueAction("pause"); });
    $("resume").addEventListener("click", function () { queueAction("resume"); });
    $("find").addEventListener("submit", async function (e) {
      e.preventDefault();
      var id = $("find-id").value.trim();
      if (!id) return;
      try {
        var job = await api("jobs/" + q(id));
        location.hash = jobHash(job.queue, job.id);
      } catch (err) { toast(err.status === 404 ? "No job " + id + " in any queue" : err.message, "error"); }
    });
    $("logout").addEventListener("click", async function () {
      try { await fetch("logout", { method: "POST", headers: { "X-CSRF-Token": state.csrf } }); } catch (e) { /* gone anyway */ }
      location.href = "login";
    });
    window.addEventListener("hashchange", route);
    new ResizeObserver(function () {
      if (state.plot) state.plot.setSize({ width: Math.max(320, $("chart").clientWidth), height: 190 });
    }).observe($("chart"));
    setInterval(function () {  // "3 min ago" stays true; no request is made
      document.querySelectorAll("td[data-ago]").forEach(function (td) {
        if (td.dataset.ago) td.textContent = ago(Number(td.dataset.ago));
      });
    }, 10000);
  }

  async function start() {
    try {
      state.session = await api("session");
    } catch (err) {
      showView("none");
      $("none-title").textContent = "Not open to you";
      $("none-text").textContent = err.message;
      return;
    }
    var s = state.session;
    state.csrf = s.csrf;
    state.mayAct = !!s.mayAct;
    document.body.dataset.mayAct = state.mayAct ? "true" : "false";
    $("version").textContent = "jobcast " + s.version;
    var access = $("access");
    access.hidden = false;
    access.textContent = s.readOnly ? "read-only" : { token: "token", session: "signed in", hook: "app access",
                                                      loopback: "this machine only" }[s.via];
    access.title = s.readOnly || "";
    $("logout").hidden = s.via !== "session";
    document.querySelectorAll("[data-act]").forEach(function (el) { if (!state.mayAct) el.hidden = true; });
    wire();
    await refreshAll();
    await route();
    connect();
  }

  document.addEventListener("DOMContentLoaded", start);
})();
