// The admin page: the overview (polled, and refreshed on every sign-in record), both sign-in
// logs live over server-sent events, a user's timeline drawing, and the clock buttons when the
// clock is simulated. Everything shown is set as text (never as markup): logins in the logs
// come from whoever sent a request.
"use strict";

const MAX_LOG_ROWS = 200;
const POLL_MS = 5000;
let after = null;          // the page of users shown (null: the first)
let selected = null;       // { id, sam } of the user whose timeline is shown
let overview = null;
let serverOffset = 0;      // server now minus browser now, for countdowns on the system clock
const seen = new Set();    // sign-in records shown (a reconnect resends the recent ones)

const $ = (id) => document.getElementById(id);

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function showError(message) {
  const e = $("error");
  e.textContent = message || "";
  e.hidden = !message;
}

function short(t) {
  if (!t) return "never";
  return t.replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function duration(ms) {
  if (ms <= 0) return "due";
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h > 0) return `in ${h} h ${m} min`;
  if (m > 0) return `in ${m} min ${r} s`;
  return `in ${r} s`;
}

function serverNow() {
  if (!overview) return null;
  // A simulated clock stands still until moved; the system clock runs.
  if (overview.clock === "simulated") return Date.parse(overview.now);
  return Date.now() + serverOffset;
}

function tick() {
  if (!overview) return;
  const now = serverNow();
  if (overview.clock === "system") $("now").textContent = short(new Date(now).toISOString());
  $("in-object").textContent = "(" + duration(Date.parse(overview.object_sync.next) - now) + ")";
  $("in-phs").textContent = "(" + duration(Date.parse(overview.password_hash_sync.next) - now) + ")";
}

function userRow(u) {
  const tr = document.createElement("tr");
  tr.dataset.id = u.id;
  tr.dataset.sam = u.sam;
  tr.dataset.onprem = u.onprem.state;
  tr.dataset.cloud = u.cloud.state;
  if (selected && selected.id === u.id) tr.classList.add("selected");
  const who = cell(tr, u.sam);
  who.title = u.upn;
  const on = cell(tr, u.onprem.state, "state-" + u.onprem.state);
  on.dataset.side = "onprem";
  let lock = u.onprem.locked ? "locked" : "";
  if (u.onprem.bad_count > 0) lock += (lock ? ", " : "") + u.onprem.bad_count + " bad";
  cell(tr, lock || "—");
  cell(tr, short(u.onprem.password_set_at));
  const flags = [];
  if (u.onprem.must_change) flags.push("must change");
  if (u.onprem.password_expired) flags.push("password expired");
  if (u.onprem.account_expires) flags.push("expires " + short(u.onprem.account_expires));
  cell(tr, flags.join(", ") || "—");
  const cl = cell(tr, u.cloud.state + (u.cloud.upn && u.cloud.upn !== u.upn ? " as " + u.cloud.upn : ""), "state-" + u.cloud.state);
  cl.dataset.side = "cloud";
  if (u.cloud.state !== u.onprem.state) cl.classList.add("differs");
  cell(tr, u.cloud.as_of ? short(u.cloud.as_of) : "—");
  const pw = cell(tr, { current: "current", previous: "previous (new one not synced yet)", none: "none synced" }[u.cloud.password]);
  if (u.cloud.password !== "current") pw.classList.add("differs");
  cell(tr, u.cloud.mfa + (u.cloud.admin ? ", admin" : ""));
  cell(tr, u.cloud.app_passwords);
  cell(tr, u.cloud.smart_locked_until ? "until " + short(u.cloud.smart_locked_until) : "—");
  tr.addEventListener("click", () => select(u));
  return tr;
}

function render(o) {
  overview = o;
  serverOffset = Date.parse(o.now) - Date.now();
  $("now").textContent = short(o.now);
  const mode = $("clock-mode");
  mode.textContent = o.clock === "simulated" ? "simulated clock" : "system clock";
  mode.className = "badge " + o.clock;
  $("next-object").textContent = short(o.object_sync.next);
  $("last-object").textContent = short(o.object_sync.last);
  $("every-object").textContent = o.object_sync.every;
  $("next-phs").textContent = short(o.password_hash_sync.next);
  $("last-phs").textContent = short(o.password_hash_sync.last);
  $("every-phs").textContent = o.password_hash_sync.every;
  $("advance-object").hidden = !o.can_advance;
  $("advance-phs").hidden = !o.can_advance;
  $("readonly").hidden = o.can_advance;
  const body = $("users").querySelector("tbody");
  body.replaceChildren(...o.users.map(userRow));
  $("more").hidden = !o.more_after;
  $("first").hidden = after === null;
  const del = $("deleted").querySelector("tbody");
  del.replaceChildren(...o.deleted_on_prem.map((u) => {
    const tr = document.createElement("tr");
    tr.dataset.id = u.id;
    tr.dataset.cloud = u.cloud.state;
    cell(tr, u.sam);
    cell(tr, u.cloud.state, "state-" + u.cloud.state);
    cell(tr, short(u.cloud.as_of));
    cell(tr, u.cloud.app_passwords);
    tr.addEventListener("click", () => select(u));
    return tr;
  }));
  $("deleted-section").hidden = o.deleted_on_prem.length === 0;
  const pushes = $("pushes").querySelector("tbody");
  pushes.replaceChildren(...o.pushes.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.push = p.id;
    cell(tr, p.sam);
    cell(tr, short(p.opened_at));
    const td = document.createElement("td");
    for (const answer of ["approve", "deny"]) {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = answer;
      b.className = "push-" + answer;
      b.addEventListener("click", () => answerPush(p.id, answer));
      td.append(b, " ");
    }
    tr.append(td);
    return tr;
  }));
  $("pushes-section").hidden = o.pushes.length === 0;
  tick();
}

async function refresh() {
  try {
    const q = after ? "?after=" + encodeURIComponent(after) : "";
    const r = await fetch("/api/overview" + q, { cache: "no-store" });
    const o = await r.json();
    if (!r.ok) throw new Error(o.error || r.statusText);
    render(o);
    showError("");
    if (selected) await drawTimeline();
  } catch (e) {
    showError("cannot read the overview: " + e.message);
  }
}

let pending = null;
function refreshSoon() {
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(); }, 300);
}

async function drawTimeline() {
  const r = await fetch("/api/timeline.svg?user=" + encodeURIComponent(selected.id), { cache: "no-store" });
  const text = await r.text();
  if (!r.ok) { showError("cannot draw the timeline: " + text); return; }
  const doc = new DOMParser().parseFromString(text, "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") { showError("the timeline is not a drawing"); return; }
  $("timeline").replaceChildren(document.importNode(svg, true));
}

async function select(u) {
  selected = { id: u.id, sam: u.sam };
  $("timeline-user").textContent = u.sam;
  $("timeline-section").hidden = false;
  for (const tr of document.querySelectorAll("#users tbody tr")) {
    tr.classList.toggle("selected", Number(tr.dataset.id) === u.id);
  }
  await drawTimeline();
}

function codes(c) {
  if (!c) return "";
  const out = [];
  if (c.ad) out.push("AD " + c.ad);
  if (c.nps !== null && c.nps !== undefined) out.push("NPS " + c.nps);
  if (c.aadsts) out.push("AADSTS" + String(c.aadsts).replace(/^AADSTS/, ""));
  return out.join(" ");
}

function addRecord(line, fresh) {
  if (seen.has(line)) return;
  let rec;
  try { rec = JSON.parse(line); } catch (_) { return; }
  seen.add(line);
  const table = $(rec.log === "cloud" ? "log-cloud" : "log-on-prem");
  if (!table) return;
  const tr = document.createElement("tr");
  tr.dataset.outcome = rec.outcome;
  tr.dataset.user = rec.user || "";
  tr.dataset.time = rec.time;
  if (fresh) tr.className = "fresh";
  cell(tr, short(rec.time));
  cell(tr, rec.door);
  cell(tr, rec.endpoint + (rec.client ? " " + rec.client : ""));
  cell(tr, rec.login + (rec.outer_identity ? " (outer " + rec.outer_identity + ")" : "") + (rec.app_password ? " [app password " + rec.app_password + "]" : ""));
  cell(tr, rec.outcome, "outcome-" + rec.outcome);
  cell(tr, rec.rule);
  cell(tr, codes(rec.codes));
  cell(tr, rec.explanation, "explanation");
  const body = table.querySelector("tbody");
  // Newest first, by the record's own time (a reconnect's backlog arrives oldest first).
  let before = null;
  for (const row of body.children) {
    if (row.dataset.time <= rec.time) { before = row; break; }
  }
  body.insertBefore(tr, before);
  while (body.children.length > MAX_LOG_ROWS) body.removeChild(body.lastChild);
}

function listen() {
  const live = $("live");
  const source = new EventSource("/api/events");
  let loaded = false;
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "badge live"; });
  source.addEventListener("error", () => { live.textContent = "reconnecting"; live.className = "badge down"; });
  source.addEventListener("signin", (e) => {
    addRecord(e.data, loaded);
    refreshSoon();
  });
  source.addEventListener("skipped", (e) => {
    const s = $("skipped");
    s.textContent = `${e.data} records were written faster than this page read them and are not shown; the log files have them all.`;
    s.hidden = false;
  });
  // The backlog arrives at once; records after it are new.
  setTimeout(() => { loaded = true; }, 1000);
}

// The phone's answer to a push of the MFA extension.
async function answerPush(id, answer) {
  try {
    const r = await fetch("/api/mfa/answer?push=" + encodeURIComponent(id) + "&answer=" + answer, { method: "POST", headers: { "X-Hybridauth-Page": "1" } });
    const o = await r.json();
    if (!r.ok) throw new Error(o.error || r.statusText);
    showError("");
  } catch (e) {
    showError("cannot answer the push: " + e.message);
  }
  await refresh();
}

async function advance(to) {
  try {
    const r = await fetch("/api/clock/advance?to=" + to, { method: "POST", headers: { "X-Hybridauth-Page": "1" } });
    const o = await r.json();
    if (!r.ok) throw new Error(o.error || r.statusText);
    showError("");
  } catch (e) {
    showError("cannot move the clock: " + e.message);
  }
  await refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("advance-object").addEventListener("click", () => advance("object-sync"));
  $("advance-phs").addEventListener("click", () => advance("password-hash-sync"));
  $("more").addEventListener("click", () => { after = overview && overview.more_after; refresh(); });
  $("first").addEventListener("click", () => { after = null; refresh(); });
  refresh();
  listen();
  setInterval(refresh, POLL_MS);
  setInterval(tick, 1000);
});
