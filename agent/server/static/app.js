// ToG console: a client of the public REST API (/v1) and its server-sent events, nothing else.
// No libraries and no build step. Every API call carries the API key (when one is set) as a bearer token,
// so images and downloads are fetched as blobs and the event stream is read with fetch, not EventSource.
"use strict";
(() => {
  const KEY = "tog.apiKey";
  const FINAL = new Set(["succeeded", "partial", "failed", "cancelled", "interrupted"]);
  const ARTIFACT_ID = /^[a-z]+-[0-9a-f]{16}$/;
  const GENERATED = /^<GENERATED>-(\d+)$/;
  const ACTION_STATE = {
    action_queued: "queued", action_started: "running", action_retried: "running", action_finished: "done",
    action_reused: "done", action_failed: "failed", action_cancelled: "cancelled",
    queued: "queued", started: "running", retried: "running", finished: "done", reused: "done",
    failed: "failed", cancelled: "cancelled",
  };
  const STATE_WORDS = { queued: "queued", running: "running", done: "done", failed: "failed",
    fellback: "fell back", cancelled: "cancelled" };
  const SUBTASK_STATE = { subtask_finished: "done", subtask_failed: "failed", subtask_skipped: "skipped",
    succeeded: "done", failed: "failed", skipped: "skipped", cancelled: "cancelled" };
  const EXTENSIONS = { "image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif",
    "audio/wav": ".wav", "audio/x-wav": ".wav", "audio/mpeg": ".mp3", "audio/flac": ".flac", "audio/ogg": ".ogg",
    "video/mp4": ".mp4", "video/webm": ".webm", "application/json": ".json", "text/plain": ".txt",
    "application/pdf": ".pdf", "text/html": ".html" };
  const LEADS = {
    0: "The server cannot be reached.", 401: "An API key is needed.", 403: "Not allowed.", 404: "Not found.",
    409: "This cannot be done now.", 413: "Too large for this server.", 415: "Not a kind of input the server accepts.",
    422: "The server cannot use this input.", 429: "The server is busy.", 500: "The server failed.",
    503: "The server is starting or stopping.",
  };

  const $ = (id) => document.getElementById(id);
  const state = {
    files: [], types: null, retry: null, follow: null, taskId: null, view: null,
    actions: new Map(), chosen: new Map(), attempted: new Map(), fellBack: new Map(), subtaskState: new Map(),
    blobs: new Map(), known: new Map(), historyCursor: null, toolsLoaded: false, renderTimer: 0,
  };

  // --- DOM helpers ------------------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    el.append(...children.filter((c) => c !== null && c !== undefined));
    return el;
  }

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
    el.append(...children.filter((c) => c !== null && c !== undefined));
    return el;
  }

  const say = (text) => { $("status").textContent = text; };
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const when = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : "");
  const short = (text, n) => (text.length > n ? text.slice(0, n - 1) + "…" : text);

  // --- the API ----------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message, details, retryAfter) {
      super(message);
      Object.assign(this, { status, code, details: details || {}, retryAfter });
    }
  }

  const relative = (path) => path.replace(/^\//, ""); // relative to the page, so a path prefix keeps working

  function authHeaders(extra) {
    const headers = Object.assign({}, extra);
    const key = sessionStorage.getItem(KEY);
    if (key) headers.Authorization = "Bearer " + key;
    return headers;
  }

  async function api(path, options = {}) {
    let response;
    try {
      response = await fetch(relative(path), Object.assign({}, options, { headers: authHeaders(options.headers) }));
    } catch (err) {
      if (err.name === "AbortError") throw err;
      throw new ApiError(0, "network", "No answer from the server: check that `tog serve` is running, then try again.");
    }
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  const getJSON = async (path, options) => (await api(path, options)).json();

  async function errorOf(response) {
    let body = null;
    try { body = await response.json(); } catch (_) { body = null; }
    const info = body && body.error;
    if (info && info.message) {
      return new ApiError(response.status, info.code, info.message, info.details, response.headers.get("Retry-After"));
    }
    return new ApiError(response.status, "http_" + response.status,
      `The server answered ${response.status} ${response.statusText}.`.replace(" .", "."));
  }

  // --- errors in plain words --------------------------------------------------------------------------

  function problemsOf(details) {
    const items = [];
    for (const p of (details && details.problems) || []) items.push(p.path ? `${p.path}: ${p.message}` : p.message);
    for (const e of (details && details.errors) || []) {
      const where = (e.loc || []).filter((part) => part !== "body").join(".");
      items.push(where ? `${where}: ${e.msg}` : e.msg);
    }
    return items;
  }

  function explain(err) {
    const items = problemsOf(err.details);
    let message = String(err.message || "Something went wrong.");
    if (items.length) message = message.split("\n")[0];
    message = message.charAt(0).toUpperCase() + message.slice(1);
    if (err.status === 429 && err.retryAfter) message += ` Try again in ${err.retryAfter} s.`;
    const lead = LEADS[err.status] || (err.status >= 500 ? LEADS[500] : "");
    return { lead, message, items };
  }

  function fillError(box, err, leadText) {
    const explained = explain(err);
    const { message, items } = explained;
    const lead = leadText || explained.lead;
    box.replaceChildren(...[
      lead ? h("strong", { text: lead + " " }) : null,
      h("span", { text: message }),
      items.length ? h("ul", {}, ...items.map((item) => h("li", { text: item }))) : null,
    ].filter(Boolean));
    box.dataset.code = err.code || "";
    box.hidden = false;
  }

  function showError(err, retry) {
    if (err.name === "AbortError") return;
    if (err.status === 401) { askForKey(err.message, retry); }
    fillError($("alert"), err);
    say("");
  }

  function clearError() { $("alert").hidden = true; $("alert").replaceChildren(); }

  // Run an async action, showing its failure; ``retry`` reruns it once a key is given after a 401.
  async function guarded(action) {
    clearError();
    try { return await action(); } catch (err) { showError(err, () => guarded(action)); return undefined; }
  }

  // --- the API key ------------------------------------------------------------------------------------

  function askForKey(why, retry) {
    state.retry = retry || null;
    const form = $("key-form");
    $("key-why").textContent = (why ? "This server needs an API key (one of its TOG_SERVER_API_KEYS). " : "") +
      "The key is kept in this browser tab only (session storage) and sent as a bearer token.";
    form.hidden = false;
    $("key-button").setAttribute("aria-expanded", "true");
    $("key-input").focus();
  }

  function setUpKey() {
    $("key-button").addEventListener("click", () => {
      const form = $("key-form");
      if (form.hidden) askForKey("", null);
      else { form.hidden = true; $("key-button").setAttribute("aria-expanded", "false"); }
    });
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const key = $("key-input").value.trim();
      if (!key) { $("key-input").focus(); return; }
      sessionStorage.setItem(KEY, key);
      $("key-input").value = "";
      $("key-form").hidden = true;
      $("key-button").setAttribute("aria-expanded", "false");
      clearError();
      say("API key saved for this tab.");
      const retry = state.retry;
      state.retry = null;
      state.types = null;
      if (retry) retry(); else route();
    });
    $("key-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      say("API key forgotten.");
    });
  }

  // --- views ------------------------------------------------------------------------------------------

  function route() {
    const match = location.hash.match(/^#\/(new|task|history|tools)(?:\/([0-9a-f]{32}))?$/);
    const view = match ? match[1] : "new";
    say("");
    for (const section of document.querySelectorAll(".view")) section.hidden = section.id !== "view-" + view;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.dataset.view === view) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    }
    if (view !== "task") stopFollowing();
    if (view === "task" && match[2]) guarded(() => openTask(match[2]));
    else if (view === "history") guarded(() => loadHistory(true));
    else if (view === "tools") guarded(loadTools);
    else guarded(loadTypes);
  }

  // --- new task: files --------------------------------------------------------------------------------

  function fileName(file, n) {
    if (file.name && /\.[A-Za-z0-9]+$/.test(file.name)) return file.name;
    const ext = EXTENSIONS[file.type] || "";
    return `${file.name || "pasted-" + n}${ext}`;
  }

  function addFiles(list) {
    for (const file of list) {
      const name = fileName(file, state.files.length + 1);
      const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
      state.files.push({ file, name, preview });
    }
    renderFiles();
    if (list.length) say(`${state.files.length} file(s) ready to send.`);
  }

  function renderFiles() {
    $("file-list").replaceChildren(...state.files.map((item, i) => h("li", {},
      item.preview ? h("img", { src: item.preview, alt: "" }) : null,
      h("span", { text: `${item.name} (${Math.ceil(item.file.size / 1024)} KB)` }),
      h("button", { type: "button", class: "quiet", "aria-label": `Remove ${item.name}`, text: "✕",
        onclick: () => { const [gone] = state.files.splice(i, 1); if (gone.preview) URL.revokeObjectURL(gone.preview);
          renderFiles(); $("files").focus(); } }))));
  }

  function setUpFiles() {
    const drop = $("drop");
    $("files").addEventListener("change", (event) => { addFiles(event.target.files); event.target.value = ""; });
    drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (event) => {
      event.preventDefault();
      drop.classList.remove("over");
      addFiles(event.dataTransfer.files);
    });
    drop.addEventListener("keydown", (event) => {
      if (event.target === drop && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); $("files").click(); }
    });
    document.addEventListener("paste", (event) => {
      if ($("view-new").hidden || mode() !== "request") return;
      const files = event.clipboardData && event.clipboardData.files;
      if (files && files.length) { event.preventDefault(); addFiles(files); }
    });
  }

  const mode = () => document.querySelector('input[name="mode"]:checked').value;

  // --- new task: submitting ---------------------------------------------------------------------------

  function invalid(field, message) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
    throw new ApiError(-1, "invalid_form", message);
  }

  async function submitRequest() {
    const text = $("request").value.trim();
    $("request").removeAttribute("aria-invalid");
    $("resources").removeAttribute("aria-invalid");
    if (!text) invalid($("request"), "Type what you want done first.");
    const body = new FormData();
    body.append("request", text);
    for (const item of state.files) body.append("files", item.file, item.name);
    const resources = $("resources").value.trim();
    if (resources) {
      let parsed;
      try { parsed = JSON.parse(resources); } catch (_) { parsed = null; }
      if (!Array.isArray(parsed)) invalid($("resources"), "The literal inputs must be a JSON array of {name, type, value}.");
      body.append("resources", resources);
    }
    say("Sending the task…");
    const created = await getJSON("/v1/tasks", { method: "POST", body });
    for (const item of state.files) if (item.preview) URL.revokeObjectURL(item.preview);
    state.files = [];
    renderFiles();
    say(`Task ${created.id.slice(0, 8)} accepted (${created.status}).`);
    location.hash = "#/task/" + created.id;
  }

  function setUpForm() {
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => {
        const workflow = mode() === "workflow";
        $("request-mode").hidden = workflow;
        $("workflow-mode").hidden = !workflow;
        if (workflow) guarded(async () => { await loadTypes(); renderWorkflowInputs(); collectArtifacts(); });
      });
    }
    $("task-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = $("submit");
      button.disabled = true;
      try { await guarded(mode() === "workflow" ? runWorkflow : submitRequest); } finally { button.disabled = false; }
    });
    let timer = 0;
    $("workflow-text").addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => guarded(async () => { await loadTypes(); renderWorkflowInputs(); }), 250);
    });
    $("workflow-file").addEventListener("change", async (event) => {
      const file = event.target.files[0];
      if (!file) return;
      $("workflow-text").value = await file.text();
      await guarded(async () => { await loadTypes(); renderWorkflowInputs(); });
    });
  }

  // --- workflows: reading the inputs of a workflow file -----------------------------------------------

  function withoutComment(text) {
    let quote = "";
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quote) { if (c === quote) quote = ""; } else if (c === '"' || c === "'") quote = c;
      else if (c === "#" && (i === 0 || /\s/.test(text[i - 1]))) return text.slice(0, i).trim();
    }
    return text.trim();
  }

  function scalar(raw) {
    const text = raw.trim();
    if (/^".*"$/.test(text)) { try { return JSON.parse(text); } catch (_) { return text.slice(1, -1); } }
    if (/^'.*'$/.test(text)) return text.slice(1, -1).replace(/''/g, "'");
    if (/^(true|yes|on)$/i.test(text)) return true;
    if (/^(false|no|off)$/i.test(text)) return false;
    if (/^(null|~)?$/i.test(text)) return null;
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return Number(text);
    if (/^[[{]/.test(text)) { try { return JSON.parse(text); } catch (_) { return text; } }
    return text;
  }

  function splitTopLevel(text) {
    const parts = [];
    let depth = 0, quote = "", start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (quote) { if (c === quote) quote = ""; continue; }
      if (c === '"' || c === "'") quote = c;
      else if (c === "[" || c === "{") depth++;
      else if (c === "]" || c === "}") depth--;
      else if (c === "," && depth === 0) { parts.push(text.slice(start, i)); start = i + 1; }
    }
    parts.push(text.slice(start));
    return parts.map((p) => p.trim()).filter(Boolean);
  }

  function flowMapping(text) {
    const out = {};
    for (const part of splitTopLevel(text.trim().replace(/^\{/, "").replace(/\}$/, ""))) {
      const cut = part.indexOf(":");
      if (cut > 0) out[part.slice(0, cut).trim()] = scalar(part.slice(cut + 1));
    }
    return out;
  }

  // The ``inputs`` of a workflow: JSON, or the YAML ``inputs:`` block (flow or block mappings per input).
  function workflowInputs(text) {
    const trimmed = text.trim();
    if (trimmed.startsWith("{")) {
      try { return JSON.parse(trimmed).inputs || {}; } catch (_) { return {}; }
    }
    const lines = text.split(/\r?\n/);
    const start = lines.findIndex((line) => /^inputs\s*:/.test(line));
    if (start < 0) return {};
    const inline = withoutComment(lines[start].replace(/^inputs\s*:/, ""));
    if (inline.startsWith("{")) {
      const out = {};
      for (const [name, value] of Object.entries(scalar(inline) || {})) out[name] = value;
      return out;
    }
    const inputs = {};
    let childIndent = -1, current = null;
    for (const line of lines.slice(start + 1)) {
      if (!line.trim() || /^\s*#/.test(line)) continue;
      const indent = line.length - line.trimStart().length;
      if (indent === 0) break;
      if (childIndent < 0) childIndent = indent;
      const match = line.trim().match(/^([A-Za-z_][\w-]*)\s*:\s*(.*)$/);
      if (!match) continue;
      const value = withoutComment(match[2]);
      if (indent === childIndent) {
        current = match[1];
        inputs[current] = value.startsWith("{") ? flowMapping(value) : {};
      } else if (current) {
        inputs[current][match[1]] = scalar(value);
      }
    }
    return inputs;
  }

  async function loadTypes() {
    if (!state.types) {
      const types = await getJSON("/v1/types");
      state.types = Object.fromEntries(types.map((t) => [t.type, t]));
    }
    return state.types;
  }

  const isFileType = (type) => Boolean(state.types && state.types[type] && state.types[type].is_file);

  function renderWorkflowInputs() {
    const box = $("workflow-inputs");
    const text = $("workflow-text").value;
    const typed = new Map([...box.querySelectorAll("[data-input]")].map((f) => [f.dataset.input + ":" + f.dataset.kind, f]));
    const extraJSON = $("wf-inputs-json") ? $("wf-inputs-json").value : "";
    const inputs = workflowInputs(text);
    const names = Object.keys(inputs);
    const children = [h("h3", { text: "Inputs" })];
    if (!text.trim()) children.push(h("p", { class: "muted", text: "Paste a workflow or choose a file to see its inputs." }));
    else if (!names.length) children.push(h("p", { class: "muted", text: "This workflow declares no inputs (or they could not be read here; use the JSON box below)." }));
    for (const name of names) {
      const decl = inputs[name] || {};
      const type = String(decl.type || "text");
      const required = !("default" in decl);
      const id = "wf-input-" + name;
      const hint = `${type}${required ? ", required" : ", optional"}${decl.description ? " — " + decl.description : ""}`;
      const label = h("label", { for: id }, name + " ", h("span", { class: "hint", text: `(${hint})` }));
      let field;
      let extra = [];
      if (isFileType(type)) {
        field = h("input", { id, type: "text", list: "known-" + type, "data-kind": "file", spellcheck: "false",
          placeholder: "artifact id, e.g. from an earlier task", "aria-describedby": "wf-file-help" });
        const picker = h("input", { id: id + "-upload", type: "file", "data-upload-for": name });
        const target = field;
        picker.addEventListener("change", () => guarded(() => uploadInto(target, picker)));
        extra = [h("label", { for: id + "-upload", class: "hint", text: `or upload a file for “${name}”:` }), picker];
      } else if (type === "number") {
        field = h("input", { id, type: "number", step: "any", "data-kind": "number" });
        if (typeof decl.default === "number") field.value = String(decl.default);
      } else if (type === "boolean") {
        field = h("input", { id, type: "checkbox", "data-kind": "boolean" });
        field.checked = decl.default === true;
        field.dataset.input = name;
        const before = typed.get(name + ":boolean");
        if (before) field.checked = before.checked;
        children.push(h("label", { class: "check" }, field, name + " ", h("span", { class: "hint", text: `(${hint})` })));
        continue;
      } else if (state.types && state.types[type] && state.types[type].value_schema &&
                 state.types[type].value_schema.type === "string") {
        field = h("input", { id, type: "text", "data-kind": "text" });
        if (typeof decl.default === "string") field.value = decl.default;
      } else {
        field = h("textarea", { id, rows: "3", spellcheck: "false", "data-kind": "json", placeholder: "JSON" });
        if (decl.default !== undefined && decl.default !== null) field.value = JSON.stringify(decl.default);
      }
      field.dataset.input = name;
      field.dataset.required = String(required);
      const before = typed.get(name + ":" + field.dataset.kind); // editing the workflow keeps what was typed
      if (before) field.value = before.value;
      children.push(label, field, ...extra);
    }
    if (names.some((n) => isFileType(String((inputs[n] || {}).type)))) {
      children.push(h("p", { id: "wf-file-help", class: "muted",
        text: "Files are given as artifact ids: upload one, or pick an input or result of an earlier task as you type." }));
    }
    children.push(h("details", {}, h("summary", { text: "Inputs as JSON (added to the fields above)" }),
      h("label", { for: "wf-inputs-json", text: "A JSON object: input name → value" }),
      h("textarea", { id: "wf-inputs-json", rows: "3", spellcheck: "false", placeholder: '{"width": 320}' })));
    box.replaceChildren(...children);
    $("wf-inputs-json").value = extraJSON;
    renderKnownArtifacts();
  }

  // A file chosen for a workflow input is stored first (POST /v1/artifacts); the input takes its id.
  async function uploadInto(field, picker) {
    const file = picker.files && picker.files[0];
    if (!file) return;
    const body = new FormData();
    body.append("files", file, file.name);
    say(`Uploading ${file.name}…`);
    try {
      const [meta] = (await getJSON("/v1/artifacts", { method: "POST", body })).artifacts;
      field.value = meta.id;
      state.known.set(meta.id, { type: meta.type, label: `${meta.filename || meta.type} — uploaded` });
      renderKnownArtifacts();
      say(`Uploaded ${file.name}: the input “${field.dataset.input}” uses it.`);
    } finally {
      picker.value = "";
    }
  }

  function renderKnownArtifacts() {
    const byType = new Map();
    for (const [id, info] of state.known) {
      if (!byType.has(info.type)) byType.set(info.type, []);
      byType.get(info.type).push(h("option", { value: id, label: info.label }));
    }
    for (const old of document.querySelectorAll("datalist[data-known]")) old.remove();
    for (const [type, options] of byType) $("workflow-inputs").append(h("datalist", { id: "known-" + type, "data-known": "" }, ...options));
  }

  function remember(view) {
    for (const a of [...(view.inputs || []), ...(view.artifacts || [])]) {
      const label = `${a.name || a.type} — ${a.role} of “${short(view.request, 40)}”`;
      state.known.set(a.id, { type: a.type, label });
    }
  }

  async function collectArtifacts() {
    const page = await getJSON("/v1/tasks?limit=10");
    const views = await Promise.all(page.items.map((t) => getJSON(`/v1/tasks/${t.id}`).catch(() => null)));
    for (const view of views) if (view) remember(view);
    renderKnownArtifacts();
  }

  function workflowValues() {
    const values = {};
    for (const field of $("workflow-inputs").querySelectorAll("[data-input]")) {
      field.removeAttribute("aria-invalid");
      const name = field.dataset.input;
      const kind = field.dataset.kind;
      if (kind === "boolean") { values[name] = field.checked; continue; }
      const raw = field.value.trim();
      if (!raw) {
        if (field.dataset.required === "true") invalid(field, `Give a value for the input “${name}”.`);
        continue;
      }
      if (kind === "number") values[name] = Number(raw);
      else if (kind === "json") {
        try { values[name] = JSON.parse(raw); } catch (_) { invalid(field, `The input “${name}” must be JSON.`); }
      } else values[name] = raw;
    }
    const extra = $("wf-inputs-json");
    if (extra && extra.value.trim()) {
      let parsed;
      try { parsed = JSON.parse(extra.value); } catch (_) { parsed = null; }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) invalid(extra, "The JSON inputs must be an object.");
      Object.assign(values, parsed);
    }
    return values;
  }

  async function runWorkflow() {
    const text = $("workflow-text").value.trim();
    if (!text) invalid($("workflow-text"), "Paste a workflow or choose a workflow file first.");
    let workflow = text;
    if (text.startsWith("{")) {
      try { workflow = JSON.parse(text); } catch (_) { invalid($("workflow-text"), "The workflow looks like JSON but is not valid JSON."); }
    }
    const inputs = workflowValues();
    $("workflow-result").hidden = true;
    say("Running the workflow…");
    const result = await getJSON("/v1/workflows/run", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ workflow, inputs, partial: $("workflow-partial").checked }),
    });
    renderWorkflowResult(result, inputs);
    say(`Workflow ${result.status}.`);
  }

  function renderWorkflowResult(result, inputs) {
    const summary = result.result || {};
    const badge = $("workflow-status");
    badge.textContent = result.status;
    badge.dataset.status = result.status;
    const rows = Object.values(summary.steps || {}).map((step) => h("tr", { "data-step": step.id },
      h("td", { text: step.id }), h("td", { class: "mono", text: step.tool }),
      h("td", {}, h("span", { class: "badge", "data-status": step.status, text: step.status })),
      h("td", { text: (step.error && step.error.message) || step.reason || "" })));
    $("workflow-steps").tBodies[0].replaceChildren(...rows);
    const image = Object.values(inputs).find((v) => typeof v === "string" && v.startsWith("image-"));
    const cards = [];
    for (const [name, value] of Object.entries(result.artifacts || {})) {
      const ids = Array.isArray(value) ? value : value ? [value] : [];
      const declared = (summary.outputs || {})[name] || {};
      ids.forEach((id, i) => cards.push(artifactCard(
        { id, type: declared.type || id.split("-")[0], url: `/v1/artifacts/${id}`, name: null, mime: null },
        ids.length > 1 ? `${name} [${i}]` : name, declared.reason || "", image ? `/v1/artifacts/${image}` : null)));
      if (!ids.length) cards.push(h("div", { class: "card" }, h("h4", { text: name }),
        h("p", { class: "muted", text: declared.reason || "no value" })));
    }
    for (const [name, output] of Object.entries(summary.outputs || {})) {
      if (!(name in (result.artifacts || {})) && "value" in output) {
        cards.push(h("div", { class: "card" }, h("h4", { text: name }), h("pre", { text: JSON.stringify(output.value, null, 2) })));
      }
    }
    $("workflow-outputs").replaceChildren(...cards);
    $("workflow-result").hidden = false;
  }

  // --- a task: following it ---------------------------------------------------------------------------

  function stopFollowing() {
    if (state.follow) state.follow.abort();
    state.follow = null;
  }

  function resetTask(id) {
    stopFollowing();
    Object.assign(state, { taskId: id, view: null, actions: new Map(), chosen: new Map(), attempted: new Map(),
      fellBack: new Map(), subtaskState: new Map() });
    const section = $("view-task");
    section.dataset.lastEvent = "0";
    section.dataset.reconnects = "0";
    section.dataset.events = "0";
    $("task-title").textContent = "Task " + id.slice(0, 8);
    for (const id2 of ["answer", "results", "inputs", "graph", "graph-summary"]) $(id2).replaceChildren();
    $("task-error").hidden = true;
    $("task-stage").textContent = "";
  }

  const setOf = (map, key) => { if (!map.has(key)) map.set(key, new Set()); return map.get(key); };
  const actionKey = (subtask, solution, action) => `${subtask}:${solution}:${action}`;

  function seedFromView(view) {
    state.actions = new Map();
    for (const a of view.progress.actions) {
      state.actions.set(actionKey(a.subtask, a.solution, a.action),
        { state: ACTION_STATE[a.status] || "queued", attempts: a.attempts, error: a.error, tool: a.tool });
      setOf(state.attempted, a.subtask).add(a.solution);
    }
    for (const outcome of view.subtasks || []) {
      if (outcome.solution !== null && outcome.solution !== undefined) state.chosen.set(outcome.id, outcome.solution);
      for (const f of outcome.fallbacks || []) setOf(state.fellBack, outcome.id).add(f.solution);
      if (SUBTASK_STATE[outcome.status]) state.subtaskState.set(outcome.id, SUBTASK_STATE[outcome.status]);
    }
  }

  function setStatus(status) {
    const badge = $("task-status");
    badge.textContent = status;
    badge.dataset.status = status;
    $("task-cancel").hidden = FINAL.has(status);
  }

  async function openTask(id) {
    resetTask(id);
    const view = await getJSON(`/v1/tasks/${id}`);
    if (state.taskId !== id) return;
    applyView(view, true);
    if (FINAL.has(view.status)) { renderOutcome(view); return; }
    const control = new AbortController();
    state.follow = control;
    follow(id, control);
  }

  function applyView(view, seed) {
    state.view = view;
    $("task-request").textContent = view.request;
    setStatus(view.status);
    if (seed) seedFromView(view);
    scheduleRender();
  }

  function onEvent(event) {
    const d = event.data || {};
    const kind = event.kind;
    if (kind === "task_started") setStatus("running");
    else if (kind === "stage_started") {
      $("task-stage").textContent = `Stage: ${event.stage}`;
      say(`Task ${state.taskId.slice(0, 8)}: ${event.stage}…`);
      if (event.stage !== "decompose") refreshView();
    } else if (kind in ACTION_STATE) {
      const key = actionKey(d.subtask, d.solution, d.action || d.node);
      const entry = state.actions.get(key) || { attempts: 0 };
      entry.state = ACTION_STATE[kind];
      entry.tool = d.tool || entry.tool;
      entry.attempts = Math.max(entry.attempts || 0, d.attempt || 0);
      entry.error = d.error || entry.error;
      state.actions.set(key, entry);
      setOf(state.attempted, d.subtask).add(d.solution);
    } else if (kind === "subtask_started") {
      state.chosen.set(d.subtask, d.solution);
      setOf(state.attempted, d.subtask).add(d.solution);
    } else if (kind === "subtask_fallback") {
      setOf(state.fellBack, d.subtask).add(d.solution - 1);
      setOf(state.attempted, d.subtask).add(d.solution);
      state.chosen.set(d.subtask, d.solution);
      say(`Subtask ${d.subtask}: ${d.message || "fell back to the next solution"}`);
    } else if (kind in SUBTASK_STATE) state.subtaskState.set(d.subtask, SUBTASK_STATE[kind]);
    else if (kind === "cancel_requested") say("Cancelling…");
    else if (kind === "task_finished") setStatus(d.status || "finished");
    scheduleRender();
  }

  let refreshing = null;
  function refreshView() { // the plan and solutions appear in the task view once planning is done
    if (refreshing) return;
    const id = state.taskId;
    refreshing = getJSON(`/v1/tasks/${id}`).then((view) => {
      if (state.taskId === id && state.view) { state.view = Object.assign({}, view, { status: state.view.status }); scheduleRender(); }
    }).catch(() => undefined).finally(() => { refreshing = null; });
  }

  function parseMessage(block) {
    const message = { data: undefined, id: null, retry: null };
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const cut = line.indexOf(":");
      const field = cut < 0 ? line : line.slice(0, cut);
      const value = cut < 0 ? "" : line.slice(cut + 1).replace(/^ /, "");
      if (field === "data") message.data = message.data === undefined ? value : message.data + "\n" + value;
      else if (field === "id") message.id = value;
      else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
    }
    return message;
  }

  // Server-sent events over fetch (so the bearer header goes along); on a dropped connection it resumes
  // with Last-Event-ID, so no event is lost or seen twice.
  async function follow(id, control) {
    const section = $("view-task");
    let last = 0, delay = 1000, failures = 0;
    while (!control.signal.aborted) {
      let finished = false;
      try {
        const headers = { Accept: "text/event-stream" };
        if (last) headers["Last-Event-ID"] = String(last);
        const response = await api(`/v1/tasks/${id}/events`, { headers, signal: control.signal, cache: "no-store" });
        failures = 0;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n/g, "\n");
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const message = parseMessage(buffer.slice(0, cut));
            buffer = buffer.slice(cut + 2);
            if (message.retry) delay = message.retry;
            if (message.data === undefined) continue;
            if (message.id !== null) { last = Number(message.id); section.dataset.lastEvent = String(last); }
            const event = JSON.parse(message.data);
            section.dataset.events = String(Number(section.dataset.events) + 1);
            onEvent(event);
            if (event.kind === "task_finished") finished = true;
          }
        }
      } catch (err) {
        if (control.signal.aborted) return;
        if (err instanceof ApiError && err.status >= 400 && err.status < 500 && err.status !== 429) {
          showError(err, () => guarded(() => openTask(id)));
          return;
        }
        failures += 1;
        say(`The event stream was cut; reconnecting (try ${failures})…`);
      }
      if (control.signal.aborted) return;
      if (!finished) {
        const view = await getJSON(`/v1/tasks/${id}`).catch(() => null);
        finished = Boolean(view && FINAL.has(view.status));
      }
      if (finished) { await finish(id); return; }
      section.dataset.reconnects = String(Number(section.dataset.reconnects) + 1);
      await sleep(Math.min(delay * Math.max(1, failures), 15000));
    }
  }

  async function finish(id) {
    const view = await getJSON(`/v1/tasks/${id}`);
    if (state.taskId !== id) return;
    applyView(view, true);
    renderOutcome(view);
  }

  async function cancelTask() {
    const id = state.taskId;
    const result = await getJSON(`/v1/tasks/${id}`, { method: "DELETE" });
    say(result.cancel_requested ? "The task was asked to stop." : `The task is ${result.status}.`);
    if (FINAL.has(result.status)) setStatus(result.status);
  }

  // --- a task: the plan graph -------------------------------------------------------------------------

  function scheduleRender() {
    if (state.renderTimer) return;
    state.renderTimer = setTimeout(() => { state.renderTimer = 0; renderGraph(); }, 30);
  }

  const NODE_W = 156, NODE_H = 46, GAP_X = 14, GAP_Y = 28, PAD = 10, TITLE_H = 24, LANE_H = 16, GROUP_GAP = 26;

  function actionDeps(action) {
    return [...new Set(Object.values(action.args || {}).filter((key) => !key.startsWith("input:")).map((key) => key.split(".")[0]))];
  }

  function subtaskDeps(subtask) {
    const deps = new Set(subtask.deps || []);
    for (const ref of subtask.inputs || []) {
      const m = typeof ref.value === "string" && ref.value.match(GENERATED);
      if (m) deps.add(Number(m[1]));
    }
    return [...deps];
  }

  function nodeState(subtaskId, rank, actionId) {
    const entry = state.actions.get(actionKey(subtaskId, rank, actionId));
    const fell = state.fellBack.has(subtaskId) && state.fellBack.get(subtaskId).has(rank);
    if (entry && entry.state === "failed") return entry;
    if (fell) return Object.assign({}, entry, { state: "fellback" });
    if (entry) return entry;
    if (state.subtaskState.get(subtaskId) === "skipped" || (state.view && state.view.status === "cancelled")) {
      return { state: "cancelled" };
    }
    return { state: "queued" };
  }

  // One lane per solution of a subtask that was tried (and the chosen one): its actions in rows by depth.
  function layoutLane(subtask, rank, solution) {
    const depth = new Map();
    for (const action of solution.actions) {
      depth.set(action.id, Math.max(0, ...actionDeps(action).map((dep) => (depth.get(dep) ?? -1) + 1)));
    }
    const rows = [];
    for (const action of solution.actions) (rows[depth.get(action.id)] ||= []).push(action);
    const cols = Math.max(1, ...rows.map((r) => r.length));
    return { rank, solution, rows, width: cols * NODE_W + (cols - 1) * GAP_X,
      height: LANE_H + rows.length * NODE_H + (rows.length - 1) * GAP_Y };
  }

  function layoutGroup(subtask) {
    const solutions = (state.view.solutions || {})[String(subtask.id)] || [];
    const chosen = state.chosen.has(subtask.id) ? state.chosen.get(subtask.id) : 0;
    const ranks = [...new Set([...(state.attempted.get(subtask.id) || []), chosen])]
      .filter((r) => r !== null && r !== undefined && solutions[r]).sort((a, b) => a - b);
    const lanes = ranks.map((r) => layoutLane(subtask, r, solutions[r]));
    const inner = lanes.length ? lanes.reduce((w, lane) => w + lane.width, 0) + (lanes.length - 1) * GAP_X : NODE_W;
    const title = `${subtask.id + 1}. ${short(subtask.description, 48)}`;
    const width = Math.max(inner, title.length * 6.6) + 2 * PAD;
    const height = TITLE_H + PAD + (lanes.length ? Math.max(...lanes.map((l) => l.height)) : NODE_H) + PAD;
    return { subtask, solutions, chosen, lanes, title, width, height };
  }

  function renderGraph() {
    const box = $("graph");
    const view = state.view;
    const summary = [];
    if (!view || !view.plan) {
      const words = view && FINAL.has(view.status) ? "No plan: the task ended before one was made."
        : "Decomposing the request into subtasks…";
      box.replaceChildren(h("p", { class: "muted", text: words }));
      $("graph-summary").replaceChildren(h("li", { text: words }));
      return;
    }
    const subtasks = view.plan.subtasks;
    const level = new Map();
    const levelOf = (s) => {
      if (level.has(s.id)) return level.get(s.id);
      level.set(s.id, 0);
      const deps = subtaskDeps(s).map((d) => subtasks.find((x) => x.id === d)).filter(Boolean);
      const value = deps.length ? 1 + Math.max(...deps.map(levelOf)) : 0;
      level.set(s.id, value);
      return value;
    };
    const names = new Map((view.inputs || []).map((a) => [a.id, a.name || a.type]));
    const sources = [];
    for (const s of subtasks) for (const ref of s.inputs || []) {
      if (typeof ref.value === "string" && ARTIFACT_ID.test(ref.value) && !sources.includes(ref.value)) sources.push(ref.value);
    }
    const rows = [];
    if (sources.length) rows.push(sources.map((id) => ({ source: id, width: NODE_W, height: NODE_H - 10 })));
    const offset = sources.length ? 1 : 0;
    for (const s of subtasks) (rows[levelOf(s) + offset] ||= []).push(layoutGroup(s));
    // A level wider than the box wraps onto more rows, so a phone shows the graph at a readable size.
    const room = Math.max(NODE_W + 2 * PAD, box.clientWidth - 2 * PAD - 20);
    const dense = [];
    for (const row of rows.filter(Boolean)) {
      let line = [], used = 0;
      for (const item of row) {
        if (line.length && used + GROUP_GAP + item.width > room) { dense.push(line); line = []; used = 0; }
        used += (line.length ? GROUP_GAP : 0) + item.width;
        line.push(item);
      }
      dense.push(line);
    }
    const widths = dense.map((row) => row.reduce((w, item) => w + item.width, 0) + (row.length - 1) * GROUP_GAP);
    const totalW = Math.max(...widths) + 2 * PAD;
    const where = new Map(); // "s:rank:action" or "src:id" -> {x, y, w, h}
    const out = [];
    const marker = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5",
      markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z" })));
    let y = PAD;
    dense.forEach((row, r) => {
      let x = (totalW - widths[r]) / 2;
      const rowH = Math.max(...row.map((item) => item.height));
      for (const item of row) {
        if (item.source) {
          const label = names.get(item.source) || item.source.split("-")[0];
          where.set("src:" + item.source, { x, y, w: item.width, h: item.height });
          out.push(svg("g", { class: "source", "data-artifact": item.source },
            svg("title", {}, `input ${label} (${item.source})`),
            svg("rect", { x, y, width: item.width, height: item.height, rx: 16 }),
            svg("text", { x: x + item.width / 2, y: y + item.height / 2 + 4, "text-anchor": "middle" }, short(label, 22))));
          summary.push(`Input ${label}.`);
        } else out.push(drawGroup(item, x, y, where, summary));
        x += item.width + GROUP_GAP;
      }
      y += rowH + GAP_Y + 6;
    });
    const edges = drawEdges(subtasks, where);
    const totalH = y - GAP_Y - 6 + PAD;
    box.replaceChildren(svg("svg", { viewBox: `0 0 ${totalW} ${totalH}`, width: totalW, height: totalH,
      "aria-hidden": "true", focusable: "false" }, marker, ...out, ...edges)); // arrows over the group boxes
    $("graph-summary").replaceChildren(...summary.map((line) => h("li", { text: line })));
  }

  function drawGroup(group, x, y, where, summary) {
    const s = group.subtask;
    const groupState = state.subtaskState.get(s.id) || "";
    const g = svg("g", { class: "group", "data-subtask": s.id, "data-state": groupState },
      svg("title", {}, s.description),
      svg("rect", { x, y, width: group.width, height: group.height, rx: 10 }),
      svg("text", { class: "title", x: x + PAD, y: y + 17 }, group.title));
    if (!group.lanes.length) {
      const words = FINAL.has(state.view.status) ? "no tool chain" : "planning…";
      g.append(svg("text", { class: "lane-label", x: x + PAD, y: y + TITLE_H + PAD + 14 }, words));
      summary.push(`Subtask ${s.id + 1}, ${s.description}: ${words}.`);
      return g;
    }
    let laneX = x + PAD;
    for (const lane of group.lanes) {
      const fell = state.fellBack.has(s.id) && state.fellBack.get(s.id).has(lane.rank);
      const laneWords = `solution ${lane.rank + 1}${fell ? " — fell back" : ""}`;
      g.append(svg("text", { class: "lane-label", x: laneX, y: y + TITLE_H + 10 }, laneWords));
      lane.rows.forEach((row, r) => {
        const rowW = row.length * NODE_W + (row.length - 1) * GAP_X;
        let nx = laneX + (lane.width - rowW) / 2;
        const ny = y + TITLE_H + LANE_H + r * (NODE_H + GAP_Y);
        for (const action of row) {
          const info = nodeState(s.id, lane.rank, action.id);
          const words = STATE_WORDS[info.state] + (info.attempts > 1 ? ` (try ${info.attempts})` : "");
          const error = info.error && info.error.message ? `: ${info.error.message}` : "";
          where.set(actionKey(s.id, lane.rank, action.id), { x: nx, y: ny, w: NODE_W, h: NODE_H });
          g.append(svg("g", { class: "node", "data-state": info.state, "data-tool": action.tool,
            "data-subtask": s.id, "data-solution": lane.rank, "data-action": action.id },
            svg("title", {}, `${action.tool} — ${words}${error}`),
            svg("rect", { x: nx, y: ny, width: NODE_W, height: NODE_H, rx: 6 }),
            svg("text", { x: nx + 8, y: ny + 18 }, short(action.tool, 21)),
            svg("text", { class: "state", x: nx + 8, y: ny + 35 }, words)));
          summary.push(`Subtask ${s.id + 1}, ${s.description}, solution ${lane.rank + 1}: ${action.tool} ${words}${error}.`);
          nx += NODE_W + GAP_X;
        }
      });
      laneX += lane.width + GAP_X;
    }
    return g;
  }

  function drawEdges(subtasks, where) {
    const edges = [];
    const link = (from, to) => {
      if (!from || !to) return;
      const x1 = from.x + from.w / 2, y1 = from.y + from.h, x2 = to.x + to.w / 2, y2 = to.y;
      const bend = Math.max(18, (y2 - y1) / 2);
      // An edge that skips rows (a wrapped level) runs down the left margin instead of through the groups.
      const d = y2 - y1 > 2 * (NODE_H + GAP_Y + TITLE_H)
        ? `M${x1},${y1} C${x1},${y1 + 14} ${PAD / 2},${y1 + 6} ${PAD / 2},${y1 + 28} L${PAD / 2},${y2 - 28} ` +
          `C${PAD / 2},${y2 - 6} ${x2},${y2 - 14} ${x2},${y2 - 2}`
        : `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2 - 2}`;
      edges.push(svg("path", { class: "edge", "marker-end": "url(#arrow)", d }));
    };
    const solutions = state.view.solutions || {};
    const outputNode = (subtaskId, type) => {
      const rank = state.chosen.has(subtaskId) ? state.chosen.get(subtaskId) : 0;
      const solution = (solutions[String(subtaskId)] || [])[rank];
      if (!solution) return null;
      const producer = subtasks.find((s) => s.id === subtaskId);
      const index = Math.max(0, ((producer && producer.outputs) || []).findIndex((ret) => ret.type === type));
      const key = solution.outputs[index] || solution.outputs[0];
      return key ? where.get(actionKey(subtaskId, rank, key.split(".")[0])) : null;
    };
    for (const s of subtasks) {
      for (const [rankText, solution] of Object.entries(solutions[String(s.id)] || {})) {
        const rank = Number(rankText);
        for (const action of solution.actions) {
          const to = where.get(actionKey(s.id, rank, action.id));
          if (!to) continue;
          for (const dep of actionDeps(action)) link(where.get(actionKey(s.id, rank, dep)), to);
          for (const key of Object.values(action.args || {})) {
            if (!key.startsWith("input:")) continue;
            const ref = (s.inputs || [])[Number(key.slice(6))];
            if (!ref || typeof ref.value !== "string") continue;
            const m = ref.value.match(GENERATED);
            if (m) link(outputNode(Number(m[1]), ref.type), to);
            else if (ARTIFACT_ID.test(ref.value)) link(where.get("src:" + ref.value), to);
          }
        }
      }
    }
    return edges;
  }

  // --- a task: answer, results, inputs ----------------------------------------------------------------

  function renderOutcome(view) {
    remember(view);
    $("task-stage").textContent = view.finished && view.started
      ? `Finished ${when(view.finished)} after ${(view.finished - view.started).toFixed(1)} s.` : "";
    $("answer").textContent = view.answer || (view.status === "succeeded" ? "(no answer text)" : "No answer.");
    const box = $("task-error");
    if (view.error || (view.message && view.status !== "succeeded")) {
      fillError(box, new ApiError(null, view.error ? view.error.code : view.status,
        view.error ? view.error.message : view.message, view.error ? view.error.details : {}),
        view.status === "partial" ? "Some subtasks failed." : `The task ${view.status}.`);
      if (view.message && view.error && view.message !== view.error.message) box.append(h("p", { text: view.message }));
    } else box.hidden = true;
    const cards = [];
    const images = imageSources(view);
    const outcomes = view.subtasks && view.subtasks.length ? view.subtasks : null;
    if (outcomes) {
      for (const outcome of outcomes) {
        const title = `${outcome.id + 1}. ${outcome.description}`;
        const note = `${outcome.tools.join(" → ")} · ${outcome.status}`;
        for (const a of outcome.outputs) {
          const link = view.artifacts.find((x) => x.id === a.id) || Object.assign({ url: `/v1/artifacts/${a.id}` }, a);
          cards.push(artifactCard(link, title, note, images.get(outcome.id) || images.get("first")));
        }
        if (!outcome.outputs.length || outcome.error) {
          cards.push(h("div", { class: "card", "data-subtask": outcome.id }, h("h4", { text: title }),
            h("p", { class: "meta", text: note }),
            outcome.error ? h("p", { text: `Why: ${outcome.error.message || outcome.error.code}` }) : null));
        }
      }
    } else {
      for (const a of view.artifacts) cards.push(artifactCard(a, `Result ${a.subtask ?? ""}`, a.type, images.get("first")));
    }
    $("results").replaceChildren(...(cards.length ? cards : [h("p", { class: "muted", text: "No results." })]));
    $("inputs").replaceChildren(...(view.inputs.length
      ? view.inputs.map((a) => artifactCard(a, a.name || a.id, "input", null))
      : [h("p", { class: "muted", text: "No files were sent." })]));
    say(`Task ${view.status}.`);
  }

  // For each subtask, the image its boxes refer to: its image input, given or made by an earlier subtask.
  function imageSources(view) {
    const map = new Map();
    const firstInput = (view.inputs || []).find((a) => a.type === "image");
    if (firstInput) map.set("first", firstInput.url);
    const outcomes = new Map((view.subtasks || []).map((o) => [o.id, o]));
    for (const s of (view.plan && view.plan.subtasks) || []) {
      const ref = (s.inputs || []).find((r) => r.type === "image");
      if (!ref || typeof ref.value !== "string") continue;
      const m = ref.value.match(GENERATED);
      if (m) {
        const made = ((outcomes.get(Number(m[1])) || {}).outputs || []).find((o) => o.type === "image");
        if (made) map.set(s.id, `/v1/artifacts/${made.id}`);
      } else if (ARTIFACT_ID.test(ref.value)) map.set(s.id, `/v1/artifacts/${ref.value}`);
    }
    return map;
  }

  function blobOf(url) {
    if (!state.blobs.has(url)) {
      const promise = api(url).then((r) => r.blob());
      promise.catch(() => state.blobs.delete(url));
      state.blobs.set(url, promise);
    }
    return state.blobs.get(url);
  }

  const downloadName = (a, mime) => a.name || `${a.id}${EXTENSIONS[(mime || "").split(";")[0]] || ""}`;

  async function download(artifact, button) {
    button.disabled = true;
    try {
      const blob = await blobOf(artifact.url);
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: downloadName(artifact, blob.type || artifact.mime) });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      say(`Downloaded ${downloadName(artifact, blob.type || artifact.mime)}.`);
    } catch (err) { showError(err, () => download(artifact, button)); } finally { button.disabled = false; }
  }

  function artifactCard(artifact, title, note, imageUrl) {
    const body = h("div", { class: "body" }, h("p", { class: "muted", text: "Loading…" }));
    const name = artifact.name || artifact.id;
    const button = h("button", { type: "button", class: "quiet", "data-download": artifact.id,
      "aria-label": `Download ${name}`, text: "Download" });
    button.addEventListener("click", () => download(artifact, button));
    const card = h("div", { class: "card", "data-artifact": artifact.id, "data-type": artifact.type },
      h("h4", { text: title }), h("p", { class: "meta", text: `${note ? note + " · " : ""}${artifact.type}` }), body, button);
    fillArtifact(body, artifact, title, imageUrl).catch((err) => {
      body.replaceChildren(h("p", { class: "muted", text: explain(err).message }));
    });
    return card;
  }

  async function fillArtifact(body, artifact, title, imageUrl) {
    const blob = await blobOf(artifact.url);
    const mime = (blob.type || artifact.mime || "").split(";")[0];
    const url = () => URL.createObjectURL(blob);
    if (mime.startsWith("image/")) {
      body.replaceChildren(h("img", { src: url(), alt: `${artifact.type} — ${title}` }));
    } else if (mime.startsWith("audio/")) {
      body.replaceChildren(h("audio", { controls: true, src: url(), "aria-label": `audio — ${title}` }));
    } else if (mime.startsWith("video/")) {
      body.replaceChildren(h("video", { controls: true, src: url(), "aria-label": `video — ${title}` }));
    } else if (mime === "application/json" || mime.startsWith("text/")) {
      const text = await blob.text();
      let value = text;
      if (mime === "application/json") { try { value = JSON.parse(text); } catch (_) { value = text; } }
      if (artifact.type === "bboxes" && Array.isArray(value)) body.replaceChildren(...await boxesView(value, imageUrl, title));
      else if (typeof value === "string") body.replaceChildren(h("pre", { class: "text", "data-type": artifact.type, text: value || "(empty)" }));
      else body.replaceChildren(h("pre", { class: "json", text: JSON.stringify(value, null, 2) }));
    } else {
      body.replaceChildren(h("p", { class: "muted", text: `${mime || "a file"}, ${Math.ceil(blob.size / 1024)} KB` }));
    }
  }

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const image = new Image();
      image.onload = () => resolve(image);
      image.onerror = () => reject(new ApiError(-1, "bad_image", "The image could not be shown."));
      image.src = src;
    });
  }

  async function boxesView(boxes, imageUrl, title) {
    const count = `${boxes.length} box${boxes.length === 1 ? "" : "es"}`;
    const rows = boxes.map((b, i) => h("tr", {}, h("td", { text: String(i + 1) }), h("td", { text: b.label || "" }),
      h("td", { text: b.score === null || b.score === undefined ? "" : Number(b.score).toFixed(2) }),
      h("td", { class: "mono", text: [b.x1, b.y1, b.x2, b.y2].map((v) => Math.round(v)).join(", ") })));
    const table = h("table", { class: "table" }, h("caption", { text: count }),
      h("thead", {}, h("tr", {}, ...["#", "label", "score", "x1, y1, x2, y2"].map((t) => h("th", { scope: "col", text: t })))),
      h("tbody", {}, ...rows));
    if (!imageUrl) return [table];
    const src = URL.createObjectURL(await blobOf(imageUrl));
    const image = await loadImage(src);
    const w = image.naturalWidth, hgt = image.naturalHeight;
    const font = Math.max(12, Math.round(w / 40));
    const drawing = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, width: w, height: hgt, role: "img", class: "boxes",
      "aria-label": `${title}: ${count} drawn on the image — ${boxes.map((b) => b.label).filter(Boolean).join(", ")}` },
      svg("image", { href: src, x: 0, y: 0, width: w, height: hgt }));
    for (const b of boxes) {
      drawing.append(svg("rect", { class: "box", x: b.x1, y: b.y1, width: b.x2 - b.x1, height: b.y2 - b.y1 }));
      const label = [b.label, b.score === null || b.score === undefined ? "" : Number(b.score).toFixed(2)].filter(Boolean).join(" ");
      if (label) drawing.append(svg("text", { class: "box-label", x: b.x1 + 2, y: Math.max(font, b.y1 - 4), "font-size": font }, label));
    }
    return [drawing, table];
  }

  // --- history ----------------------------------------------------------------------------------------

  async function loadHistory(reset) {
    const tbody = $("history-table").tBodies[0];
    if (reset) { state.historyCursor = null; tbody.replaceChildren(); }
    const params = new URLSearchParams({ limit: "20" });
    if ($("history-status").value) params.set("status", $("history-status").value);
    if (state.historyCursor) params.set("cursor", state.historyCursor);
    const page = await getJSON(`/v1/tasks?${params}`);
    for (const task of page.items) {
      tbody.append(h("tr", { "data-task": task.id },
        h("td", {}, h("span", { class: "badge", "data-status": task.status, text: task.status })),
        h("td", { class: "request-cell" }, h("a", { href: `#/task/${task.id}`, text: short(task.request, 140) })),
        h("td", {}, h("time", { datetime: new Date(task.created * 1000).toISOString(), text: when(task.created) }))));
    }
    if (!tbody.rows.length) tbody.append(h("tr", {}, h("td", { colspan: "3", class: "muted", text: "No tasks yet." })));
    state.historyCursor = page.next_cursor;
    $("history-more").hidden = !page.next_cursor;
    say(`${tbody.querySelectorAll("tr[data-task]").length} task(s) shown.`);
  }

  // --- tools ------------------------------------------------------------------------------------------

  const signature = (params) => params.map((p) => `${p.name}${p.required === false ? "?" : ""}: ${p.type}`).join(", ");

  async function loadTools() {
    if (state.toolsLoaded) return;
    const list = await getJSON("/v1/tools");
    $("tools-count").textContent = `${list.available} of ${list.total} tools can run on this server.`;
    $("tools-list").replaceChildren(...list.tools.map((tool) => h("li", { "data-tool": tool.name,
      "data-available": String(tool.available), "data-search": [tool.name, tool.description, ...tool.inputs.map((p) => p.type),
        ...tool.outputs.map((p) => p.type), ...tool.domains].join(" ").toLowerCase() },
      h("h3", { class: "mono", text: tool.name }),
      h("p", { text: tool.description }),
      h("p", { class: "mono", text: `(${signature(tool.inputs)}) → ${signature(tool.outputs)}` }),
      h("p", { class: "muted", text: tool.available ? `${tool.device}, about ${tool.expected_seconds} s` : `unavailable: ${tool.reason}` }))));
    state.toolsLoaded = true;
    const blob = await blobOf("/v1/graph?format=png");
    $("graph-png").src = URL.createObjectURL(blob);
  }

  function setUpTools() {
    $("tools-filter").addEventListener("input", () => {
      const words = $("tools-filter").value.toLowerCase().split(/\s+/).filter(Boolean);
      for (const li of $("tools-list").children) li.hidden = !words.every((w) => li.dataset.search.includes(w));
    });
  }

  // --- start ------------------------------------------------------------------------------------------

  function start() {
    setUpKey();
    setUpFiles();
    setUpForm();
    setUpTools();
    $("task-cancel").addEventListener("click", () => guarded(cancelTask));
    $("history-refresh").addEventListener("click", () => guarded(() => loadHistory(true)));
    $("history-status").addEventListener("change", () => guarded(() => loadHistory(true)));
    $("history-more").addEventListener("click", () => guarded(() => loadHistory(false)));
    window.addEventListener("hashchange", route);
    let width = window.innerWidth;
    window.addEventListener("resize", () => {
      if (window.innerWidth !== width && state.view) { width = window.innerWidth; scheduleRender(); }
    });
    route();
  }

  start();
})();
