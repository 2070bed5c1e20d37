// The fc-codes console: plain JavaScript, no build step, no dependency.
//
// It calls the API of the origin that serves it. The app key is kept in sessionStorage only
// (gone when the tab closes). Errors are the API's own: a message that starts with a field's
// name ("count: must be an integer from 1 to 10000") is shown next to that field.
"use strict";

const KEY_STORAGE = "fc-codes-app-key";
const SCHEME_STORAGE = "fc-codes-key-scheme";
const BASE_STORAGE = "fc-codes-api-base";
// The tutorial's aliases the API may name in a message, and the field each one is.
const ALIASES = { num: "count", "start period": "valid_from", "end period": "valid_until", uuid: "code" };
// Error codes about the code itself or the key, whatever the message says.
const CODE_ERRORS = ["INVALID_CODE", "CODE_NOT_FOUND", "CODE_ALREADY_USED", "CODE_EXPIRED", "CODE_NOT_YET_VALID"];

const $ = (id) => document.getElementById(id);

function appKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

// The API's address: this page's origin unless the operator set another (a deployed console
// on a static host calls the API Gateway group's domain, which must allow it by CORS).
function apiBase() {
  return (sessionStorage.getItem(BASE_STORAGE) || "").replace(/\/+$/, "");
}

async function call(method, path, body, admin) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (admin && appKey()) {
    if (sessionStorage.getItem(SCHEME_STORAGE) === "appcode") {
      headers["Authorization"] = "APPCODE " + appKey();
    } else {
      headers["X-Ca-Key"] = appKey();
    }
  }
  let response;
  try {
    response = await fetch(apiBase() + path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    return { status: 0, body: { error: { code: "NETWORK", message: "the service did not answer (" + err.message + ")" } } };
  }
  let data;
  try {
    data = await response.json();
  } catch (err) {
    data = { error: { code: "BAD_ANSWER", message: "the service answered " + response.status + " without a JSON body" } };
  }
  return { status: response.status, body: data };
}

function clearErrors(form) {
  for (const el of form.querySelectorAll(".error")) el.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  $("app-key").removeAttribute("aria-invalid");
  $("app-key-error").textContent = "";
}

// Put the API's error next to the field it names (or the form's own line) and focus it.
function showError(form, error) {
  const message = error.message || error.code || "unknown error";
  let input = null;
  const named = message.split(":")[0].trim();
  const field = ALIASES[named] || named;
  if (error.code === "UNAUTHORIZED") {
    input = $("app-key");
  } else if (/^BATCH_/.test(error.code) && form.querySelector('[name="batch"]')) {
    input = form.querySelector('[name="batch"]');
  } else if (CODE_ERRORS.indexOf(error.code) >= 0) {
    input = form.querySelector('[name="code"]');
  } else if (field && form.querySelector('[name="' + CSS.escape(field) + '"]')) {
    input = form.querySelector('[name="' + CSS.escape(field) + '"]');
  }
  const target = input ? $(input.getAttribute("aria-describedby")) : $(form.id.replace("-form", "-form-error"));
  target.textContent = message + " (" + error.code + ")";
  if (input) {
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }
}

function table(rows) {
  const t = document.createElement("table");
  for (const [name, value] of rows) {
    const tr = t.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name;
    tr.appendChild(th);
    tr.insertCell().textContent = value === null || value === undefined ? "—" : String(value);
  }
  return t;
}

function csv(rows) {
  const cell = (v) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  return rows.map((r) => r.map(cell).join(",")).join("\n") + "\n";
}

function show(container, title, nodes) {
  container.replaceChildren();
  const h = document.createElement("h3");
  h.textContent = title;
  container.append(h, ...nodes);
}

function toTime(value) {
  // datetime-local has no zone: it is the browser's; the API takes RFC 3339 with an offset.
  return value ? new Date(value).toISOString() : undefined;
}

async function generate(event) {
  event.preventDefault();
  const form = event.target;
  clearErrors(form);
  const body = {};
  const number = (name) => (form.elements[name].value === "" ? undefined : Number(form.elements[name].value));
  const text = (name) => form.elements[name].value.trim() || undefined;
  body.count = number("count");
  body.prefix = text("prefix");
  body.batch = text("batch");
  body.max_uses = number("max_uses");
  body.valid_from = toTime(form.elements.valid_from.value);
  body.valid_until = toTime(form.elements.valid_until.value);
  if (!$("gen-metadata-field").hidden && text("metadata")) {
    try {
      body.metadata = JSON.parse(text("metadata"));
    } catch (err) {
      showError(form, { code: "INVALID_REQUEST", message: "metadata: is not valid JSON (" + err.message + ")" });
      return;
    }
  }
  for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k];
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  const answer = await call("POST", "/codes", body, true);
  button.disabled = false;
  if (answer.status === 202) {
    // A big batch, generated in the background: its progress is under "Batches".
    const b = answer.body;
    $("batch").value = b.batch;
    const note = document.createElement("p");
    note.textContent = "Batches this big are generated in the background. Show it under Batches to " +
      "follow its progress; export it there once its generation status is READY.";
    show($("generate-result"), "Batch " + b.batch + " is being generated", [note, table(rowsOf(b))]);
    return;
  }
  if (answer.status !== 201) {
    showError(form, answer.body.error || { code: String(answer.status), message: "unexpected answer" });
    return;
  }
  const b = answer.body;
  const list = document.createElement("ol");
  list.className = "codes";
  for (const code of b.codes) list.appendChild(document.createElement("li")).textContent = code;
  const rows = [["code", "batch", "prefix", "valid_from", "valid_until", "max_uses", "created_at"]];
  for (const code of b.codes) rows.push([code, b.batch, b.prefix, b.valid_from, b.valid_until, b.max_uses, b.created_at]);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv(rows)], { type: "text/csv" }));
  link.download = b.batch + ".csv";
  link.id = "generate-csv";
  link.textContent = "Download the " + b.count + " codes as CSV";
  show($("generate-result"), "Batch " + b.batch, [
    table([["batch", b.batch], ["count", b.count], ["prefix", b.prefix], ["valid from", b.valid_from],
      ["valid until", b.valid_until], ["uses per code", b.max_uses], ["created", b.created_at]]),
    list,
    link,
  ]);
}

async function onCode(event) {
  event.preventDefault();
  const form = event.target;
  const action = (event.submitter && event.submitter.value) || "query";
  clearErrors(form);
  const code = form.elements.code.value.trim();
  if (!code) {
    showError(form, { code: "INVALID_REQUEST", message: "code: is required" });
    return;
  }
  const path = "/codes/" + encodeURIComponent(code);
  let answer;
  if (action === "redeem") {
    const user = form.elements.user_id.value;
    answer = await call("POST", path + "/redeem", user ? { user_id: user } : {}, false);
  } else if (action === "delete") {
    if (!window.confirm("Delete " + code + "? It can no longer be redeemed.")) return;
    answer = await call("DELETE", path, undefined, true);
  } else if (action === "disable" || action === "enable") {
    answer = await call("POST", path + "/" + action, {}, true);
  } else {
    answer = await call("GET", path, undefined, false);
  }
  if (answer.status !== 200) {
    showError(form, answer.body.error || { code: String(answer.status), message: "unexpected answer" });
    return;
  }
  const b = answer.body;
  const result = $("code-result");
  if (action === "redeem") {
    show(result, (b.replay ? "Already redeemed by this user: " : "Redeemed: ") + b.code, [
      table([["status", b.status], ["uses", b.uses + " of " + b.max_uses], ["redeemed", b.redeemed_at]]),
    ]);
  } else if (action === "delete") {
    show(result, "Deleted: " + b.code, []);
  } else if (action === "disable" || action === "enable") {
    show(result, b.code + ": " + b.status + (action === "disable" ? " (disabled)" : " (enabled)"), []);
  } else {
    show(result, b.code + ": " + b.status, [
      table([["batch", b.batch], ["uses", b.uses + " of " + b.max_uses], ["valid from", b.valid_from],
        ["valid until", b.valid_until], ["created", b.created_at], ["last redeemed", b.redeemed_at]]),
    ]);
  }
}

// Rows of a table for an answer: its scalar fields, and one level of nested objects (figures).
function rowsOf(body, prefix) {
  const rows = [];
  for (const [name, value] of Object.entries(body)) {
    if (value !== null && typeof value === "object" && !Array.isArray(value)) {
      rows.push(...rowsOf(value, (prefix || "") + name + " "));
    } else if (!Array.isArray(value)) {
      rows.push([(prefix || "") + name.replace(/_/g, " "), value]);
    }
  }
  return rows;
}

async function exportBatch(form, batch) {
  // Every page of the batch's codes (JSON), then one CSV with the fields of the rows.
  const base = "/batches/" + encodeURIComponent(batch) + "/codes?limit=1000";
  const items = [];
  let cursor = null;
  do {
    const answer = await call("GET", base + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""), undefined, true);
    if (answer.status !== 200) return answer;
    items.push(...answer.body.codes);
    cursor = answer.body.next_cursor;
  } while (cursor);
  const columns = items.length ? Object.keys(items[0]) : ["code"];
  const cell = (v) => (v !== null && typeof v === "object" ? JSON.stringify(v) : v);
  const rows = [columns, ...items.map((item) => columns.map((c) => cell(item[c])))];
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csv(rows)], { type: "text/csv" }));
  link.download = batch + ".csv";
  link.id = "batch-csv";
  link.textContent = "Download the " + items.length + " codes of " + batch + " as CSV";
  show($("batch-result"), "Export of " + batch, [link]);
  return null;
}

async function onBatch(event) {
  event.preventDefault();
  const form = event.target;
  const action = (event.submitter && event.submitter.value) || "show";
  clearErrors(form);
  const batch = form.elements.batch.value.trim();
  if (!batch) {
    showError(form, { code: "INVALID_REQUEST", message: "batch: is required" });
    return;
  }
  const path = "/batches/" + encodeURIComponent(batch);
  let answer;
  if (action === "export") {
    answer = await exportBatch(form, batch);
    if (answer === null) return;
  } else if (action === "disable" || action === "enable") {
    if (action === "disable" && !window.confirm("Switch off " + batch + "? None of its codes can be redeemed until it is switched on.")) return;
    answer = await call("POST", path + "/" + action, {}, true);
  } else {
    answer = await call("GET", path, undefined, true);
  }
  if (answer.status !== 200) {
    showError(form, answer.body.error || { code: String(answer.status), message: "unexpected answer" });
    return;
  }
  const title = action === "show" ? "Batch " + batch : batch + ": " + (answer.body.state || action + "d");
  show($("batch-result"), title, [table(rowsOf(answer.body))]);
}

function keepKey(event) {
  event.preventDefault();
  const value = $("app-key").value.trim();
  if (value) sessionStorage.setItem(KEY_STORAGE, value);
  sessionStorage.setItem(SCHEME_STORAGE, $("key-scheme").value);
  sessionStorage.setItem(BASE_STORAGE, $("api-base").value.trim());
  $("app-key").value = "";
  $("key-status").textContent = appKey() ? "A key is kept for this tab." : "No key: admin actions will be refused.";
}

function forgetKey() {
  for (const name of [KEY_STORAGE, SCHEME_STORAGE, BASE_STORAGE]) sessionStorage.removeItem(name);
  $("key-status").textContent = "No key: admin actions will be refused.";
}

// Show what the API's document says this deployment serves: fields and routes that later
// versions add (data-needs="METHOD /path" on an element shows it when the route exists).
async function features() {
  try {
    // The API's own (make run serves it), else a copy deployed beside the page.
    let answer = await fetch(apiBase() + "/openapi.json").catch(() => null);
    if (!answer || !answer.ok) answer = await fetch("openapi.json");
    const doc = await answer.json();
    const generate = doc.components.schemas.GenerateRequest || { properties: {} };
    $("gen-metadata-field").hidden = !("metadata" in generate.properties);
    for (const el of document.querySelectorAll("[data-needs]")) {
      const [method, path] = el.dataset.needs.split(" ");
      el.hidden = !(doc.paths[path] && doc.paths[path][method.toLowerCase()]);
    }
  } catch (err) {
    // Without the document the console still does what every deployment can.
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("key-form").addEventListener("submit", keepKey);
  $("forget-key").addEventListener("click", forgetKey);
  $("app-key").addEventListener("change", keepKey);
  $("key-scheme").addEventListener("change", keepKey);
  $("api-base").addEventListener("change", keepKey);
  $("key-scheme").value = sessionStorage.getItem(SCHEME_STORAGE) || "x-ca-key";
  $("api-base").value = sessionStorage.getItem(BASE_STORAGE) || "";
  $("generate-form").addEventListener("submit", generate);
  $("code-form").addEventListener("submit", onCode);
  $("batch-form").addEventListener("submit", onBatch);
  $("key-status").textContent = appKey() ? "A key is kept for this tab." : "No key yet: admin actions need it.";
  features();
});
