// The Durable Batch dashboard: a jobs list and a job page over the job API, in the browser.
//
// Everything shown from the API is user data (job and task ids, errors, results): it is only ever set as text
// (`text()`, `el()`), never parsed as markup. The key the page was opened with (`?code=`) goes on every API call
// as `x-functions-key` and nowhere else.

const API = document.body.dataset.api || "/api";
const KEY = new URLSearchParams(location.search).get("code");
const JOB_STATES = ["pending", "running", "disabled", "cancelling", "succeeded", "failed", "cancelled"];
const TASK_STATES = ["pending", "running", "succeeded", "failed", "skipped", "cancelled"];
const FINISHED_STATES = ["succeeded", "failed", "skipped", "cancelled"];
const COUNT_STATES = ["succeeded", "failed", "skipped", "cancelled", "running", "pending"];
const JOBS_PAGE = 25;
const TASKS_PAGE = 50;
const JOB_POLL_MS = 2000;
const LIST_POLL_MS = 5000;
const SLOW_POLL_MS = 10000;

// What the job page offers to do with a job: one entry per API route `POST /api/jobs/{id}/{route}`.
// `when(job)` says whether it applies to the job as it is now.
const JOB_ACTIONS = [
  {
    route: "cancel",
    label: "Cancel job",
    danger: true,
    confirm: (job) => `Cancel job ${job.id}? Tasks that have not run are skipped.`,
    when: (job) => job.phase !== "finished" && !job.cancelRequested,
  },
  {
    route: "rerun",
    label: "Re-run",
    danger: false,
    confirm: (job) => `Re-run job ${job.id}? Its failed, skipped and cancelled tasks run again; succeeded ones stay.`,
    when: (job) => job.phase === "finished" && job.taskCounts.succeeded < job.taskCounts.total,
  },
  {
    route: "disable",
    label: "Disable job",
    confirm: (job) => `Disable job ${job.id}? No task starts until it is enabled; running tasks finish.`,
    when: (job) => job.state === "running" && !job.cancelRequested,
  },
  {
    route: "enable",
    label: "Enable job",
    when: (job) => job.state === "disabled" && !job.cancelRequested,
  },
];

// ---- plumbing -------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, { method = "GET", query, body } = {}) {
  const url = new URL(API + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  const headers = { Accept: "application/json" };
  if (KEY) headers["x-functions-key"] = KEY;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    const sent = body === undefined ? undefined : JSON.stringify(body);
    response = await fetch(url, { method, headers, body: sent, cache: "no-store", credentials: "omit" });
  } catch (exc) {
    throw new ApiError(0, "unreachable", `the app does not answer (${exc.message})`);
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const error = answer && answer.error ? answer.error : {};
    const hint = response.status === 401 ? " (open the dashboard with ?code=<function key>)" : "";
    const details = (error.details || []).map((d) => (d.path ? `${d.path}: ${d.message}` : d.message));
    const message = [error.message || response.statusText, ...details].join("; ");
    throw new ApiError(response.status, error.code || "http" + response.status, message + hint);
  }
  return answer;
}

// A file from the API (a result too large for the task view), saved under `name`: fetched with the key as a
// header, as every call is, so the key never goes into a link.
async function download(url, name) {
  const headers = {};
  if (KEY) headers["x-functions-key"] = KEY;
  try {
    const response = await fetch(url, { headers, cache: "no-store", credentials: "omit" });
    if (!response.ok) {
      const body = await response.json().catch(() => null);
      throw new Error((body && body.error && body.error.message) || response.statusText);
    }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name });
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000); // once the browser has taken the file
  } catch (exc) {
    status(`could not download ${name}: ${exc.message}`, true);
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

function status(message, isError = false) {
  const node = document.getElementById("status");
  node.textContent = message;
  node.classList.toggle("error", isError);
}

function href(...parts) {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

// ---- formatting -----------------------------------------------------------------------------------------

function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms) || ms < 0) return "";
  // Short tasks are most tasks: below a second in ms, below a minute with hundredths, so none reads "0s".
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const s = Math.round(ms / 1000);
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

function since(iso) {
  return iso ? duration(Date.now() - Date.parse(iso)) : "";
}

function between(start, end) {
  if (!start) return "";
  return duration((end ? Date.parse(end) : Date.now()) - Date.parse(start));
}

function time(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function number(n) {
  return typeof n === "number" ? n.toLocaleString() : "";
}

function done(counts) {
  return FINISHED_STATES.reduce((sum, state) => sum + (counts[state] || 0), 0);
}

function percent(counts) {
  return counts.total ? Math.floor((100 * done(counts)) / counts.total) : 0;
}

function badge(state, extra = "") {
  return el("span", { class: `badge ${state} ${extra}`.trim(), "data-state": state }, state);
}

function progressBar(counts, big = false) {
  const bar = el("div", { class: big ? "bar big" : "bar", role: "progressbar", "aria-valuenow": percent(counts) });
  for (const state of ["succeeded", "failed", "skipped", "cancelled", "running"]) {
    const part = el("span", { class: state, title: `${state}: ${number(counts[state])}` });
    part.style.width = counts.total ? `${(100 * (counts[state] || 0)) / counts.total}%` : "0";
    bar.append(part);
  }
  return bar;
}

function jsonText(value) {
  return value === undefined ? "" : JSON.stringify(value, null, 2);
}

// A list's pages: the tokens of the pages before this one, so "previous" needs no token from the API.
class Pager {
  constructor() {
    this.reset();
  }
  reset() {
    this.tokens = [null];
    this.next = null;
  }
  get current() {
    return this.tokens[this.tokens.length - 1];
  }
  forward() {
    if (this.next) this.tokens.push(this.next);
  }
  back() {
    if (this.tokens.length > 1) this.tokens.pop();
  }
  controls(onChange) {
    const page = this.tokens.length;
    return [
      el("button", { disabled: page === 1, "data-page": "prev", onclick: () => { this.back(); onChange(); } }, "‹ Previous"),
      el("span", { class: "muted", "data-page-number": page }, `page ${page}`),
      el("button", { disabled: !this.next, "data-page": "next", onclick: () => { this.forward(); onChange(); } }, "Next ›"),
    ];
  }
}

// A view polls while it is shown; leaving it stops every timer it started.
class View {
  constructor(root) {
    this.root = root;
    this.timers = [];
    this.alive = true;
  }
  every(ms, action) {
    const tick = async () => {
      if (!this.alive) return;
      try {
        await action();
      } catch (exc) {
        status(exc.message, true);
      }
      if (this.alive && !action.stop) this.timers.push(setTimeout(tick, ms));
    };
    tick();
  }
  stop() {
    this.alive = false;
    this.timers.forEach(clearTimeout);
  }
}

// ---- the jobs list --------------------------------------------------------------------------------------

function jobsView(root, query) {
  const view = new View(root);
  const pager = new Pager();
  let state = JOB_STATES.includes(query.get("state")) ? query.get("state") : "";
  // `#/?top=N` (1-100): a page size of one's own, and a link to share.
  const asked = Number.parseInt(query.get("top") || "", 10);
  const top = asked >= 1 && asked <= 100 ? asked : JOBS_PAGE;
  const filter = el(
    "select",
    { id: "job-state", "aria-label": "state", onchange: () => { state = filter.value; pager.reset(); load().catch((exc) => status(exc.message, true)); } },
    el("option", { value: "" }, "all states"),
    JOB_STATES.map((s) => el("option", { value: s, selected: s === state }, s)),
  );
  const body = el("tbody");
  const paging = el("span");
  replace(
    root,
    el("h1", {}, "Jobs"),
    el(
      "section",
      { class: "panel", id: "jobs-panel" },
      el("div", { class: "toolbar" }, filter, el("span", { class: "spacer" }), paging),
      el(
        "table",
        { id: "jobs" },
        el(
          "thead",
          {},
          el("tr", {}, el("th", {}, "job"), el("th", {}, "state"), el("th", {}, "progress"),
            ["total", "succeeded", "failed", "running", "pending", "skipped", "cancelled"].map((c) => el("th", { class: "num" }, c)),
            el("th", { class: "num" }, "age"), el("th", { class: "num" }, "duration")),
        ),
        body,
      ),
    ),
  );
  async function load() {
    const page = await api("/jobs", { query: { state, top, continuationToken: pager.current } });
    if (!view.alive) return;
    pager.next = page.continuationToken;
    replace(paging, pager.controls(() => load().catch((exc) => status(exc.message, true))));
    replace(body, page.value.length ? page.value.map(jobRow) : el("tr", {}, el("td", { colspan: 11, class: "muted" }, "No jobs.")));
    status(`updated ${new Date().toLocaleTimeString()}`);
  }
  view.every(LIST_POLL_MS, load);
  return view;
}

function jobRow(job) {
  const c = job.taskCounts;
  return el(
    "tr",
    { "data-job": job.id },
    el("td", { class: "id" }, el("a", { href: href("jobs", job.id) }, job.id)),
    el("td", {}, badge(job.state), job.cancelRequested ? el("span", { class: "muted" }, " cancel requested") : null),
    el("td", {}, progressBar(c), el("span", { class: "muted" }, `${percent(c)}%`)),
    ["total", "succeeded", "failed", "running", "pending", "skipped", "cancelled"].map((k) => el("td", { class: "num", "data-count": k }, number(c[k]))),
    el("td", { class: "num" }, since(job.createdAt)),
    el("td", { class: "num" }, between(job.startedAt, job.endedAt)),
  );
}

// ---- the job page ---------------------------------------------------------------------------------------

function jobView(root, jobId, taskId) {
  const view = new View(root);
  const head = el("section", { class: "panel", id: "job" }, el("p", { class: "muted" }, "Loading…"));
  const settings = settingsPanel(jobId);
  const orchestrations = orchestrationsPanel(jobId);
  const chart = el("div", { id: "chart" });
  const failures = el("div", { id: "failures" });
  const tasks = el("section", { class: "panel", id: "tasks" });
  replace(
    root,
    head,
    settings.node,
    el(
      "div",
      { class: "row" },
      el("section", { class: "panel" }, el("h2", {}, "Completions over time"), chart),
      el("section", { class: "panel" }, el("h2", {}, "Failures by error"), failures),
    ),
    tasks,
    orchestrations.node,
  );
  const table = taskTable(tasks, jobId);
  let finished = false;
  let lastInsights = 0;
  let insightsEvery = SLOW_POLL_MS;
  let firstLook = true;
  // (time, finished tasks) as the job was seen: the rate over the last minute of them, and the ETA at that rate.
  const samples = [];

  async function refresh() {
    const job = await api(`/jobs/${encodeURIComponent(jobId)}`);
    if (!view.alive) return;
    const now = Date.now();
    const finishedNow = done(job.taskCounts);
    // Counts that went back (a re-run reopened tasks) start the window over.
    if (samples.length && finishedNow < samples[samples.length - 1][1]) samples.length = 0;
    samples.push([now, finishedNow]);
    while (samples.length > 2 && now - samples[0][0] > 60000) samples.shift();
    if (firstLook) {
      firstLook = false;
      // A failed job's question is which tasks failed: its task table starts with them.
      if (job.state === "failed" && job.taskCounts.failed > 0) table.prefer("failed");
    }
    renderJob(head, job, refresh, pace(samples, job));
    settings.update(job, refresh);
    const justFinished = job.phase === "finished" && !finished;
    if (justFinished || now - lastInsights >= insightsEvery) {
      lastInsights = now;
      const insights = await api(`/jobs/${encodeURIComponent(jobId)}/insights`, { query: { buckets: 60, groups: 10 } });
      if (!view.alive) return;
      // The insights read every task chunk of the job: on a large one, ask less often, not the server harder.
      insightsEvery = Math.max(SLOW_POLL_MS, 5 * (Date.now() - now));
      renderChart(chart, insights.completions);
      renderFailures(failures, insights.failures, jobId);
      if (justFinished || !finished) await table.load();
    }
    finished = job.phase === "finished";
    refresh.stop = finished;
    status(finished ? `finished; shown ${new Date().toLocaleTimeString()}` : `live; updated ${new Date().toLocaleTimeString()}`);
  }
  // An action on a finished job (a re-run) makes it live again: polling starts over.
  refresh.restart = () => {
    if (!refresh.stop) return refresh();
    refresh.stop = false;
    view.every(JOB_POLL_MS, refresh);
  };
  view.every(JOB_POLL_MS, refresh);
  if (taskId) openTask(jobId, taskId);
  return view;
}

// How fast the job's tasks finish and when the rest will have, from the samples of the last minute; null when
// the job is not running or no two samples are apart yet.
function pace(samples, job) {
  if (job.phase === "finished" || samples.length < 2) return null;
  const [[t0, d0], [t1, d1]] = [samples[0], samples[samples.length - 1]];
  if (t1 <= t0) return null;
  const rate = ((d1 - d0) * 1000) / (t1 - t0);
  const left = job.taskCounts.total - d1;
  return { rate, eta: rate > 0 ? (left * 1000) / rate : null };
}

function filesUrl(container, name) {
  return `${API}/files/${encodeURIComponent(container)}/${name.split("/").map(encodeURIComponent).join("/")}`;
}

function resultsFacts(job) {
  const r = job.results;
  if (!r) return null;
  const save = (name, label, id) => el("button", { id, onclick: () => download(filesUrl(r.container, name), label) }, label);
  return [
    el("dt", {}, "results"),
    el("dd", { id: "job-results" },
      el("code", {}, `${r.container}/${r.prefix}`), " ",
      r.summaryBlob ? save(r.summaryBlob, "summary.json", "job-summary-download") : null, " ",
      save(r.specBlob, "job.json", "job-spec-download"),
      el("div", { class: "muted" }, `all of them: durable-batch results download ${job.id} --out results`),
    ),
  ];
}

function renderJob(node, job, refresh, speed) {
  const c = job.taskCounts;
  const actions = el("div", { class: "toolbar", id: "actions" });
  for (const action of JOB_ACTIONS) {
    if (!action.when(job)) continue;
    const button = el("button", {
      class: action.danger ? "danger" : "",
      "data-action": action.route,
      onclick: async () => {
        if (action.confirm && !window.confirm(action.confirm(job))) return;
        button.disabled = true;
        try {
          await api(`/jobs/${encodeURIComponent(job.id)}/${action.route}`, { method: "POST" });
          status(`${action.label}: requested`);
          await refresh.restart();
        } catch (exc) {
          status(`${action.label}: ${exc.message}`, true);
          button.disabled = false;
        }
      },
    }, action.label);
    actions.append(button);
  }
  replace(
    node,
    el("div", { class: "toolbar" },
      el("h1", { id: "job-id" }, job.id),
      badge(job.state),
      // The phase only when it says more than the state (reducing, cancelling, planning): one badge, not two.
      el("span", { class: "muted", id: "job-phase", title: "phase", hidden: job.phase === job.state || job.phase === "finished" }, job.phase),
      job.cancelRequested ? el("span", { class: "muted" }, "cancel requested") : null,
      el("span", { class: "spacer" }),
      actions,
    ),
    progressBar(c, true),
    el("div", { class: "counts", id: "job-counts" },
      el("div", {}, el("b", { "data-count": "percent" }, `${percent(c)}%`), el("span", {}, "done")),
      ["total", ...COUNT_STATES].map((k) => el("div", {}, el("b", { "data-count": k }, number(c[k])), el("span", {}, k))),
    ),
    el("dl", { class: "facts" },
      el("dt", {}, "created"), el("dd", {}, time(job.createdAt), " (", since(job.createdAt), " ago)"),
      el("dt", {}, "started"), el("dd", {}, time(job.startedAt)),
      el("dt", {}, "ended"), el("dd", {}, time(job.endedAt)),
      el("dt", {}, "duration"), el("dd", {}, between(job.startedAt, job.endedAt)),
      speed ? [
        el("dt", {}, "throughput"), el("dd", { id: "job-rate" }, `${speed.rate.toLocaleString(undefined, { maximumFractionDigits: 1 })} tasks/s`),
        el("dt", {}, "ETA"), el("dd", { id: "job-eta" }, speed.eta === null ? "--" : duration(speed.eta)),
      ] : null,
      job.reason ? [el("dt", {}, "reason"), el("dd", { id: "job-reason" }, job.reason)] : null,
      job.poolInfo ? [el("dt", {}, "pool"), el("dd", { id: "job-pool" }, `${job.poolInfo.poolId}, priority ${job.priority}`)] : null,
      job.slots ? [el("dt", {}, "slots"), el("dd", { id: "job-slots" }, `${number(job.slots.held)} held, ${number(job.slots.waiting)} waiting` + (job.slots.rateLimited ? `, ${number(job.slots.rateLimited)} tasks waiting for a rate limit` : ""))] : null,
      resultsFacts(job),
    ),
    job.reduce !== undefined && job.reduce !== null ? [el("h2", {}, "Reduce"), el("pre", { id: "job-reduce" }, jsonText(job.reduce))] : null,
    runsTable(job.runs || []),
    costTable(job.cost, job.taskCounts.total, job.phase === "finished"),
  );
}

// The job's settings, and while it runs a control to change its cap and priority (`PATCH /api/jobs/{id}`). Made
// once per page: a poll refreshes the values shown, never a field being edited.
function settingsPanel(jobId) {
  const cap = el("input", { type: "number", id: "job-cap", min: 1, max: 100000, "aria-label": "maxParallelTasks" });
  const priority = el("input", { type: "number", id: "job-priority", min: -1000, max: 1000, "aria-label": "priority" });
  const tolerated = el("span", { id: "job-tolerated" });
  const apply = el("button", { id: "job-apply" }, "Apply");
  const node = el("section", { class: "panel", id: "job-settings" },
    el("div", { class: "toolbar" },
      el("h2", {}, "Settings"),
      el("label", {}, "max parallel tasks ", cap),
      el("label", {}, "priority ", priority),
      el("span", { class: "muted" }, "tolerated failures ", tolerated),
      el("span", { class: "spacer" }),
      apply,
    ),
  );
  let shown = {};
  let onChange = null;
  apply.addEventListener("click", async () => {
    const change = {};
    if (cap.value !== "" && Number(cap.value) !== shown.maxParallelTasks) change.maxParallelTasks = Number(cap.value);
    if (priority.value !== "" && Number(priority.value) !== shown.priority) change.priority = Number(priority.value);
    if (!Object.keys(change).length) {
      status("settings: nothing changed");
      return;
    }
    apply.disabled = true;
    try {
      const job = await api(`/jobs/${encodeURIComponent(jobId)}`, { method: "PATCH", body: change });
      shown = {};
      update(job, onChange);
      status(`settings: ${Object.entries(change).map(([k, v]) => `${k} ${v}`).join(", ")}`);
      if (onChange) await onChange.restart();
    } catch (exc) {
      status(`settings: ${exc.message}`, true);
    } finally {
      apply.disabled = false;
    }
  });
  function update(job, refresh) {
    onChange = refresh;
    const live = job.phase !== "finished";
    for (const [input, value] of [[cap, job.maxParallelTasks], [priority, job.priority]]) {
      const key = input === cap ? "maxParallelTasks" : "priority";
      if (document.activeElement !== input && shown[key] !== value) input.value = value ?? "";
      input.disabled = !live;
    }
    shown = { maxParallelTasks: job.maxParallelTasks, priority: job.priority };
    tolerated.textContent = `${job.toleratedFailurePercentage ?? 0}%`;
    apply.hidden = !live;
  }
  return { node, update };
}

// What the job's latest run cost so far (the API's `cost`): the quantities a deployment's bill is made of, in
// all and per task, so a user can scale them to the jobs they plan to run.
const COST_ROWS = [
  ["orchestrations", "orchestrations", "the job, its groups and partitions"],
  ["episodes", "orchestrator episodes", "each one replays its history so far"],
  ["historyEvents", "history events", "rows the durable backend writes"],
  ["replayedEvents", "history events replayed", "the orchestrators' CPU grows with it"],
  ["activityCalls", "activity calls", "each a function execution, retries included"],
  ["timers", "durable timers", "retry pauses, pacing, waits"],
];
const STORAGE_ROWS = [
  ["blobReads", "blob reads"], ["blobWrites", "blob writes"], ["blobLists", "blob listings"],
  ["blobDeletes", "blob deletes"], ["tableReads", "table point reads"], ["tableQueries", "table queries"],
  ["tableWrites", "table row writes"], ["tableBatches", "table batch transactions"], ["tableDeletes", "table deletes"],
];

function costTable(cost, tasks, finished) {
  if (!cost) return null;
  const perTask = (n) => (tasks > 0 ? (n / tasks).toLocaleString(undefined, { maximumFractionDigits: 3 }) : "");
  const row = (key, label, note, n) => el("tr", { "data-cost": key },
    el("td", {}, label, note ? el("span", { class: "muted" }, ` (${note})`) : null),
    el("td", { class: "num" }, number(n)),
    el("td", { class: "num" }, perTask(n)),
  );
  const storage = cost.storageRequests || {};
  return el("table", { id: "job-cost" },
    el("thead", {}, el("tr", {}, el("th", {}, finished ? "cost" : "cost so far"), el("th", { class: "num" }, "in all"), el("th", { class: "num" }, "per task"))),
    el("tbody", {},
      COST_ROWS.map(([key, label, note]) => row(key, label, note, cost[key])),
      row("storageRequests", "storage requests", "to the app's storage account, retries included", storage.total),
      // Only the kinds this job used: the others are all zero.
      STORAGE_ROWS.filter(([key]) => storage[key] > 0).map(([key, label]) => row(key, `\u2003${label}`, null, storage[key])),
    ),
  );
}

function runsTable(runs) {
  // Each run of the job; a run's counts are of the tasks it ran (the first: all of them).
  if (runs.length < 2) return null;
  return el("table", { id: "runs" },
    el("thead", {}, el("tr", {}, ["run", "state", "requested", "started", "ended", "tasks", "succeeded", "failed", "reason"].map((c) => el("th", {}, c)))),
    el("tbody", {}, runs.map((r) => el("tr", { "data-run": String(r.number) },
      el("td", { class: "num" }, String(r.number)),
      el("td", {}, badge(r.state)),
      el("td", {}, time(r.requestedAt)),
      el("td", {}, time(r.startedAt)),
      el("td", {}, time(r.endedAt)),
      el("td", { class: "num" }, number(r.taskCounts.total)),
      el("td", { class: "num" }, number(r.taskCounts.succeeded)),
      el("td", { class: "num" }, number(r.taskCounts.failed)),
      el("td", {}, r.reason || ""),
    ))),
  );
}

function renderChart(node, completions) {
  const bars = completions.buckets;
  if (!bars.length) {
    replace(node, el("p", { class: "muted" }, "No task has finished yet."));
    return;
  }
  const width = 600;
  const height = 140;
  const finished = (b) => FINISHED_STATES.reduce((sum, state) => sum + (b[state] || 0), 0);
  const top = Math.max(1, ...bars.map(finished));
  const step = width / bars.length;
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height + 16}`, preserveAspectRatio: "none", role: "img" });
  chart.append(svg("title", {}, `finished tasks per ${completions.bucketSeconds} s`));
  bars.forEach((bar, i) => {
    let y = height;
    for (const state of FINISHED_STATES) {
      const h = ((bar[state] || 0) / top) * height;
      if (h <= 0) continue;
      y -= h;
      const rect = svg("rect", { class: state, x: i * step + 0.5, y, width: Math.max(1, step - 1), height: h });
      rect.append(svg("title", {}, `${time(bar.start)}: ${bar[state]} ${state}`));
      chart.append(rect);
    }
  });
  chart.append(svg("text", { x: 0, y: height + 13 }, time(completions.start)));
  chart.append(svg("text", { x: width, y: height + 13, "text-anchor": "end" }, time(completions.end)));
  const total = bars.reduce((sum, b) => sum + finished(b), 0);
  replace(
    node,
    chart,
    el("div", { class: "legend" },
      FINISHED_STATES.map((s) => el("span", {}, el("i", { class: s }), s)),
      el("span", { id: "chart-total" }, `${number(total)} finished, ${completions.bucketSeconds} s a bar, peak ${number(top)}`),
    ),
  );
  node.dataset.total = String(total);
}

function renderFailures(node, failures, jobId) {
  if (!failures.failed) {
    replace(node, el("p", { class: "muted" }, "No task has failed."));
    return;
  }
  replace(
    node,
    el("table", { id: "failure-groups" },
      el("thead", {}, el("tr", {}, el("th", { class: "num" }, "tasks"), el("th", {}, "error"), el("th", {}, "for example"))),
      el("tbody", {}, failures.groups.map((g) => el("tr", {},
        el("td", { class: "num", "data-count": "failed" }, number(g.count)),
        el("td", { class: "err" }, g.error),
        el("td", { class: "ids" }, g.taskIds.map((id, i) => [i ? ", " : "", el("a", { href: href("jobs", jobId, "tasks", id) }, id)])),
      ))),
    ),
    failures.otherFailures ? el("p", { class: "muted" }, `and ${number(failures.otherFailures)} more failures with other errors`) : null,
  );
}

function taskTable(node, jobId) {
  const pager = new Pager();
  let state = "";
  const filter = el(
    "select",
    { id: "task-state", "aria-label": "task state", onchange: () => { state = filter.value; pager.reset(); load().catch((exc) => status(exc.message, true)); } },
    el("option", { value: "" }, "all states"),
    TASK_STATES.map((s) => el("option", { value: s }, s)),
  );
  const paging = el("span");
  const body = el("tbody");
  replace(
    node,
    el("div", { class: "toolbar" }, el("h2", {}, "Tasks"), filter, el("span", { class: "spacer" }), paging),
    el("table", { id: "task-table" },
      el("thead", {}, el("tr", {}, ["task", "state", "attempts", "started", "duration", "error"].map((c) => el("th", {}, c)))),
      body,
    ),
  );
  // The filter the page starts with (a failed job's failures); the user's own choice from then on.
  function prefer(wanted) {
    if (state || pager.current) return;
    state = wanted;
    filter.value = wanted;
  }
  async function load() {
    const page = await api(`/jobs/${encodeURIComponent(jobId)}/tasks`, {
      query: { state, top: TASKS_PAGE, continuationToken: pager.current },
    });
    pager.next = page.continuationToken;
    replace(paging, pager.controls(() => load().catch((exc) => status(exc.message, true))));
    replace(
      body,
      page.value.length
        ? page.value.map((t) => el("tr", { "data-task": t.id },
          el("td", { class: "id" }, el("a", { href: href("jobs", jobId, "tasks", t.id) }, t.id)),
          el("td", {}, badge(t.state)),
          el("td", { class: "num" }, number(t.attempts)),
          el("td", {}, time(t.startedAt)),
          el("td", {}, between(t.startedAt, t.endedAt)),
          el("td", { class: "err" }, t.error || ""),
        ))
        : el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No tasks.")),
    );
  }
  return { load, prefer };
}

// ---- a job's orchestrations ------------------------------------------------------------------------------

const ACTIVE_RUNTIME = ["Pending", "Running", "ContinuedAsNew", "Suspended"];

// For when a job hangs: the job's orchestrations (the job's, its groups', its partitions') with their status, each
// one's history, and a terminate. Loaded when opened, and again by its button: it reads one status a row.
function orchestrationsPanel(jobId) {
  const body = el("tbody");
  const paging = el("span");
  const pager = new Pager();
  const base = `/jobs/${encodeURIComponent(jobId)}/orchestrations`;
  const reload = () => load().catch((exc) => status(exc.message, true));
  const details = el("details", { id: "orchestrations" },
    el("summary", {}, el("h2", {}, "Orchestrations"), el("span", { class: "muted" }, " the job's, its groups' and partitions': for when a job hangs")),
    el("div", { class: "toolbar" }, el("button", { id: "orchestrations-reload", onclick: reload }, "Reload"), el("span", { class: "spacer" }), paging),
    el("table", { id: "orchestration-table" },
      el("thead", {}, el("tr", {}, ["instance", "kind", "status", "updated", ""].map((c) => el("th", {}, c)))),
      body,
    ),
  );
  details.addEventListener("toggle", () => { if (details.open) reload(); });
  async function load() {
    const page = await api(base, { query: { top: 50, continuationToken: pager.current } });
    pager.next = page.continuationToken;
    replace(paging, el("span", { class: "muted" }, `${number(page.total)} in all `), pager.controls(reload));
    replace(body, page.value.map((o) => el("tr", { "data-instance": o.instanceId },
      el("td", { class: "id" }, o.instanceId),
      el("td", {}, o.kind),
      el("td", { "data-status": o.runtimeStatus || "" }, o.runtimeStatus || "not started"),
      el("td", {}, time(o.lastUpdatedAt)),
      el("td", {},
        o.runtimeStatus ? el("button", { "data-history": o.instanceId, onclick: () => openHistory(jobId, o.instanceId) }, "History") : null,
        ACTIVE_RUNTIME.includes(o.runtimeStatus) ? el("button", {
          class: "danger",
          "data-terminate": o.instanceId,
          onclick: async () => {
            if (!window.confirm(`Terminate ${o.instanceId}? A terminated group or partition fails its job.`)) return;
            try {
              await api(`${base}/${encodeURIComponent(o.instanceId)}/terminate`, { method: "POST", body: { reason: "terminated from the dashboard" } });
              status(`terminated ${o.instanceId}`);
              await load();
            } catch (exc) {
              status(`terminate: ${exc.message}`, true);
            }
          },
        }, "Terminate") : null,
      ),
    )));
  }
  return { node: el("section", { class: "panel" }, details) };
}

async function openHistory(jobId, instanceId) {
  closeTask();
  const content = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  const drawer = el("div", { class: "overlay", id: "task-overlay", onclick: (e) => { if (e.target === drawer) closeTask(); } },
    el("aside", { class: "drawer", id: "orchestration", role: "dialog", "aria-label": `orchestration ${instanceId}` },
      el("header", {}, el("h2", {}, instanceId), el("button", { id: "orchestration-close", onclick: closeTask }, "Close")),
      content,
    ),
  );
  document.body.append(drawer);
  try {
    const o = await api(`/jobs/${encodeURIComponent(jobId)}/orchestrations/${encodeURIComponent(instanceId)}`);
    if (!drawer.isConnected) return;
    replace(content,
      el("dl", { class: "facts" },
        el("dt", {}, "kind"), el("dd", {}, o.kind),
        el("dt", {}, "status"), el("dd", { id: "orchestration-status" }, o.runtimeStatus),
        el("dt", {}, "created"), el("dd", {}, time(o.createdAt)),
        el("dt", {}, "updated"), el("dd", {}, time(o.lastUpdatedAt)),
      ),
      o.customStatus !== null && o.customStatus !== undefined ? [el("h2", {}, "Custom status"), el("pre", {}, jsonText(o.customStatus))] : null,
      el("h2", {}, `History (${number(o.history.length)} events)`),
      el("table", { id: "history" },
        el("thead", {}, el("tr", {}, ["#", "event", "time", "name"].map((c) => el("th", {}, c)))),
        el("tbody", {}, o.history.map((e, i) => el("tr", { "data-event": e.EventType || "" },
          el("td", { class: "num" }, String(i)),
          el("td", {}, e.EventType || ""),
          el("td", {}, time(e.Timestamp)),
          el("td", { class: "id" }, e.Name || e.FunctionName || ""),
        ))),
      ),
    );
  } catch (exc) {
    replace(content, el("p", { class: "error-box" }, exc.message));
  }
}

// ---- a task ---------------------------------------------------------------------------------------------

async function openTask(jobId, taskId) {
  closeTask();
  const content = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  const close = () => { location.hash = href("jobs", jobId); };
  const drawer = el("div", { class: "overlay", id: "task-overlay", onclick: (e) => { if (e.target === drawer) close(); } },
    el("aside", { class: "drawer", id: "task", role: "dialog", "aria-label": `task ${taskId}` },
      el("header", {}, el("h2", { id: "task-id" }, taskId), el("button", { id: "task-close", onclick: close }, "Close")),
      content,
    ),
  );
  document.body.append(drawer);
  const base = `/jobs/${encodeURIComponent(jobId)}/tasks/${encodeURIComponent(taskId)}`;
  try {
    const [task, logs] = await Promise.all([api(base), api(`${base}/logs`)]);
    if (!drawer.isConnected) return;
    replace(
      content,
      el("dl", { class: "facts" },
        el("dt", {}, "state"), el("dd", {}, badge(task.state)),
        el("dt", {}, "attempts"), el("dd", { id: "task-attempts" }, number(task.attempts)),
        el("dt", {}, "partition"), el("dd", {}, number(task.partition)),
        el("dt", {}, "started"), el("dd", {}, time(task.startedAt)),
        el("dt", {}, "ended"), el("dd", {}, time(task.endedAt)),
        el("dt", {}, "duration"), el("dd", {}, between(task.startedAt, task.endedAt)),
      ),
      el("h2", {}, "Definition"),
      task.definitionError ? el("p", { class: "error-box", id: "task-definition-error" }, task.definitionError) : null,
      task.definition ? el("pre", { id: "task-definition" }, jsonText(task.definition)) : null,
      task.error ? [el("h2", {}, "Error"), el("pre", { id: "task-error" }, task.error)] : null,
      el("h2", {}, "Result"),
      task.resultError ? el("p", { class: "error-box" }, task.resultError) : null,
      task.resultOmitted
        ? el("p", { id: "task-result" },
          `${number(task.resultSize)} bytes: too large to show here. `,
          el("button", { id: "task-result-download", onclick: () => download(task.resultUrl, `${taskId}-result.json`) }, "Download"))
        : el("pre", { id: "task-result" }, task.result === null ? "(none)" : jsonText(task.result)),
      ["stdout", "stderr"].map((stream) => logs[stream] === null ? null : [
        el("h2", {}, stream),
        logs[stream] ? el("pre", { id: `task-${stream}` }, logs[stream]) : el("p", { class: "muted", id: `task-${stream}` }, "(empty)"),
      ]),
    );
  } catch (exc) {
    replace(content, el("p", { class: "error-box" }, exc.message));
  }
}

function closeTask() {
  document.getElementById("task-overlay")?.remove();
}

// ---- routing --------------------------------------------------------------------------------------------

let current = null;
let shownJob = null;

function route() {
  const [path, search] = location.hash.replace(/^#\/?/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const crumbs = document.getElementById("crumbs");
  if (parts[0] === "jobs" && parts[1]) {
    const [jobId, taskId] = [parts[1], parts[2] === "tasks" ? parts[3] : undefined];
    if (current && shownJob === jobId) {
      // The same job: only the task drawer opens or closes, the page and its polling stay.
      if (taskId) openTask(jobId, taskId);
      else closeTask();
      return;
    }
    switchTo((root) => jobView(root, jobId, taskId), jobId);
    replace(crumbs, "/ ", el("a", { href: href("") }, "jobs"), " / ", jobId);
    document.title = `${jobId} · Durable Batch`;
  } else {
    switchTo((root) => jobsView(root, new URLSearchParams(search || "")), null);
    replace(crumbs, "/ jobs");
    document.title = "Jobs · Durable Batch";
  }
}

function switchTo(make, jobId) {
  if (current) current.stop();
  closeTask();
  shownJob = jobId;
  current = make(document.getElementById("main"));
}

window.addEventListener("hashchange", route);
route();
