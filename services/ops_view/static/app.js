"use strict";
// The operations page: plain DOM, no framework, nothing loaded from elsewhere.
const CLOCK = { first_response: "Tanggapan pertama", follow_up: "Tindak lanjut", resolution: "Penyelesaian", auto_close: "Tutup otomatis", disposition: "Verifikasi admin", unit_response: "Tenggat unit" };
const KIND = { warning: "Peringatan", breach: "Pelanggaran" };
const TARGET = { agency: "Instansi", agency_supervisor: "Atasan instansi", national_admin: "Admin nasional", ombudsman: "Ombudsman", agency_admin: "Admin instansi" };
const STATUS = { acknowledged: "diterima instansi", in_progress: "sedang diproses", info_requested: "minta keterangan", info_received: "keterangan diterima",
  field_inspection_required: "perlu pemeriksaan lapangan", responded: "ditanggapi", resolved: "diselesaikan", not_our_authority: "bukan wewenang",
  assigned: "ditugaskan admin", reporter_replied: "pelapor membalas", archived: "diarsipkan", closed: "ditutup" };
const $ = (sel) => document.querySelector(sel);
let escalations = [];
let complianceRows = [];
let sort = { key: "period", asc: false };

function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined && text !== null) e.textContent = String(text); if (cls) e.className = cls; return e; }
// Every time in WIB, whatever the operator's machine says (deadlines fall at local midnights).
function when(iso) { if (!iso) return "–"; return new Date(iso).toLocaleString("id-ID", { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Jakarta" }) + " WIB"; }
function idLink(id) { const a = el("a", id); a.href = "#" + id; return a; }
function row(cells) { const tr = document.createElement("tr"); for (const c of cells) { const td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c === null || c === undefined ? "–" : String(c); tr.appendChild(td); } return tr; }
async function getJSON(url) { const r = await fetch(url); const body = await r.json(); if (!r.ok) throw new Error(body.error || r.statusText); return body; }

function escalationRow(e, fresh) {
  const lvl = el("span", e.level, "lvl lvl" + e.level);
  const tr = row([when(e.fire_at), idLink(e.complaint_id), e.agency_id, CLOCK[e.clock] || e.clock, KIND[e.kind] || e.kind, lvl, TARGET[e.target] || e.target]);
  if (fresh) tr.classList.add("new");
  return tr;
}
function renderEscalations(freshId) {
  const level = $("#esc-level").value, agency = $("#esc-agency").value.trim().toLowerCase();
  const shown = escalations.filter((e) => (level === "" || String(e.level) === level) && (!agency || e.agency_id.includes(agency)));
  const body = $("#escalations tbody"); body.replaceChildren(...shown.slice(0, 100).map((e) => escalationRow(e, e.escalation_id === freshId)));
  $("#esc-count").textContent = shown.length + " eskalasi";
}
function live() {
  const source = new EventSource("/events");
  source.onopen = () => $("#live").classList.add("on");
  source.onerror = () => $("#live").classList.remove("on");
  source.addEventListener("escalation", (msg) => {
    const e = JSON.parse(msg.data);
    if (escalations.some((x) => x.escalation_id === e.escalation_id)) return;
    escalations.unshift(e);
    escalations.sort((a, b) => new Date(b.fire_at) - new Date(a.fire_at) || new Date(b.as_of) - new Date(a.as_of));
    renderEscalations(e.escalation_id);
  });
}

function breaches(r) {
  const clocks = Object.entries(r.breaches_by_clock).map(([c, n]) => (CLOCK[c] || c) + " " + n);
  const levels = Object.entries(r.breaches_by_level).map(([l, n]) => "L" + l + " " + n);
  return [clocks.join(", "), levels.join(" ")].filter(Boolean).join(" · ") || "–";
}
function renderCompliance() {
  const key = sort.key, dir = sort.asc ? 1 : -1;
  const value = (r) => key === "breaches" ? Object.values(r.breaches_by_level).reduce((a, b) => a + b, 0) : r[key];
  const rows = [...complianceRows].sort((a, b) => { const x = value(a), y = value(b); return (x === y ? 0 : x === null ? -1 : y === null ? 1 : x < y ? -1 : 1) * dir; });
  $("#compliance tbody").replaceChildren(...rows.map((r) => {
    const tr = row([r.agency_name, r.period, r.received, r.on_time, r.late, r.on_time_share === null ? "–" : (r.on_time_share * 100).toFixed(0) + "%", breaches(r), r.open_overdue_now]);
    for (const i of [2, 3, 4, 5, 7]) tr.children[i].className = "num";
    tr.dataset.agency = r.agency_id;
    return tr;
  }));
  for (const th of document.querySelectorAll("#compliance th")) { th.classList.toggle("sorted", th.dataset.key === key); th.classList.toggle("asc", th.dataset.key === key && sort.asc); }
  const select = $("#trend-agency"), chosen = select.value;
  const agencies = [...new Map(complianceRows.map((r) => [r.agency_id, r.agency_name])).entries()].sort((a, b) => a[1].localeCompare(b[1]));
  select.replaceChildren(...agencies.map(([id, name]) => { const o = el("option", name); o.value = id; return o; }));
  if (agencies.some(([id]) => id === chosen)) select.value = chosen;
  renderTrend();
}
// Units late on their internal deadlines, by agency (a unit's lapse goes to its agency's admin only).
function renderUnits(rows) {
  const sorted = [...rows].sort((a, b) => a.agency_name.localeCompare(b.agency_name) || a.unit_name.localeCompare(b.unit_name) || b.period.localeCompare(a.period));
  $("#units tbody").replaceChildren(...sorted.map((r) => {
    const tr = row([r.agency_name, r.unit_name, r.period, r.received, r.breaches, r.open_overdue_now]);
    for (const i of [3, 4, 5]) tr.children[i].className = "num";
    return tr;
  }));
  $("#units-note").textContent = rows.length ? "" : "Tidak ada unit yang terlambat.";
}
function renderTrend() {
  const svg = $("#trend"), agency = $("#trend-agency").value;
  const points = complianceRows.filter((r) => r.agency_id === agency && r.on_time_share !== null).sort((a, b) => a.period.localeCompare(b.period)).slice(-12);
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg", W = 360, H = 180, L = 34, B = 24, T = 10;
  const add = (tag, attrs, text) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); if (text) e.textContent = text; svg.appendChild(e); return e; };
  for (const pct of [0, 50, 100]) { const y = T + (H - T - B) * (1 - pct / 100); add("line", { x1: L, x2: W - 6, y1: y, y2: y, stroke: "#dfe5ec" }); add("text", { x: 4, y: y + 3 }, pct + "%"); }
  if (!points.length) { add("text", { x: W / 2 - 60, y: H / 2 }, "belum ada data"); return; }
  const x = (i) => L + (points.length === 1 ? (W - L) / 2 : i * (W - L - 12) / (points.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v);
  add("polyline", { points: points.map((p, i) => x(i) + "," + y(p.on_time_share)).join(" "), fill: "none", stroke: "#b3261e", "stroke-width": 2 });
  points.forEach((p, i) => { add("circle", { cx: x(i), cy: y(p.on_time_share), r: 3, fill: "#b3261e" }); if (i === 0 || i === points.length - 1) add("text", { x: x(i), y: H - 6, "text-anchor": i === 0 ? "start" : "end" }, p.period); });
  $("#trend-caption").textContent = "Tanggapan pertama tepat waktu (%): " + (complianceRows.find((r) => r.agency_id === agency) || {}).agency_name;
}

// A signed-in national operator (null: this deployment's page has no sign-in, so no action).
let staff = null;
async function whoAmI() {
  const me = await getJSON("/api/me");
  if (!me.csrf) return;  // no sign-in on this deployment
  staff = me;
  $("#who").textContent = staff.name;
  $("#signout").elements.csrf.value = staff.csrf;
  $("#signout").hidden = false;
  $("#assign-head").hidden = false;
}
const chosen = new Map();  // complaint id -> agency picked, kept across the 5-second refresh
function assignCell(id) {
  const span = el("span"), select = el("select"), button = el("button", "Tugaskan");
  select.appendChild(el("option", "— pilih instansi —"));
  select.firstChild.value = "";
  for (const a of staff.agencies) { const o = el("option", a.name); o.value = a.id; select.appendChild(o); }
  select.value = chosen.get(id) || "";
  select.addEventListener("change", () => chosen.set(id, select.value));
  button.addEventListener("click", () => assign(id, select.value, button));
  span.append(select, " ", button);
  return span;
}
async function assign(id, target, button) {
  if (!target) { $("#triage-note").textContent = "Pilih instansi tujuan dulu."; return; }
  button.disabled = true;
  const r = await fetch("/api/triage/" + encodeURIComponent(id) + "/assign", { method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": staff.csrf }, body: JSON.stringify({ target_agency_id: target }) });
  const body = await r.json();
  button.disabled = r.ok;
  $("#triage-note").textContent = r.ok ? id + " ditugaskan ke " + target + "; router meneruskannya." : (body.error || r.statusText);
}
let shownTriage = "";
function renderTriage(triage) {
  const key = JSON.stringify(triage) + (staff ? "+" : "");
  if (key === shownTriage) return;  // unchanged: keep an open picker open
  shownTriage = key;
  $("#triage tbody").replaceChildren(...triage.map((t) => {
    const cells = [idLink(t.complaint_id), when(t.since), t.age_working_days, t.held_by.length ? (t.held_by_names || t.held_by).join(" → ") : "–"];
    if (staff) cells.push(assignCell(t.complaint_id));
    const tr = row(cells);
    tr.dataset.complaint = t.complaint_id;
    tr.children[2].className = "num";
    return tr;
  }));
}

function renderOverview(o) {
  $("#now").textContent = when(o.now);
  renderTriage(o.triage);
  $("#dead-counts tbody").replaceChildren(...o.dead_letters.counts.map((c) => { const tr = row([c.reason, c.source_topic, c.count]); tr.children[2].className = "num"; return tr; }));
  $("#dead-latest tbody").replaceChildren(...o.dead_letters.latest.map((d) => row([when(d.received_at), d.reason, d.source_topic + " #" + d.source_partition + "/" + d.source_offset, d.errors.map((e) => e.loc + ": " + e.msg).join("; ")])));
}

function age(seconds) {
  if (!seconds) return "–";
  if (seconds < 120) return Math.round(seconds) + " dtk";
  if (seconds < 7200) return Math.round(seconds / 60) + " mnt";
  return (seconds / 3600).toFixed(1) + " jam";
}
const UNDELIVERED = { bridge_refused: "ditolak", bridge_gave_up: "dihentikan", bridge_skipped: "dilewati" };
function renderBridge(rows) {
  $("#bridge-empty").hidden = rows.length > 0;
  $("#bridge tbody").replaceChildren(...rows.map((b) => {
    const mode = b.mode === "open311" ? "Open311" : b.mode === "webhook" ? "webhook" : "–";
    const state = b.disabled ? "nonaktif (410)" : b.retrying ? "mencoba ulang" : b.mode ? "lancar" : "–";
    const tr = row([b.agency_name, mode, b.pending, age(b.oldest_undelivered_s), state, b.delivered, b.refused,
      b.gave_up, b.skipped, b.undelivered, b.statuses_in, when(b.as_of)]);
    for (const i of [2, 3, 5, 6, 7, 8, 9, 10]) tr.children[i].className = "num";
    // Which of the agency's undelivered complaints were refused, given up or skipped.
    tr.children[9].title = Object.entries(b.undelivered_by_reason || {}).map(([r, n]) => (UNDELIVERED[r] || r) + " " + n).join(", ");
    tr.dataset.agency = b.agency_id;
    tr.dataset.undelivered = b.undelivered;
    if (b.disabled) { tr.className = "late"; tr.dataset.disabled = "true"; }
    else if (b.retrying) tr.className = "late";
    return tr;
  }));
}

function describe(e) {
  const agency = e.agency_name || e.agency_id;
  switch (e.kind) {
    case "accepted": return "Diterima melalui " + e.channel + " (kategori " + (e.category_name || e.category) + ")";
    case "routed": return e.agency_id ? (e.role === "copy" ? "Tembusan ke " : "Diteruskan ke ") + agency + " — " + (e.reason_text ? e.reason_text + " (aturan " + e.rule_id + ")" : "aturan " + e.rule_id) + ", percobaan " + e.attempt : "Masuk triase (" + (e.reason_text || e.reason) + ")";
    case "status": if (e.status === "disposed") return "Status: " + e.disposition_text + " — " + agency;
      return "Status: " + (STATUS[e.status] || e.status) + (e.agency_id ? " — " + agency : " — sistem/admin") + (e.target_agency_id ? " → " + (e.target_agency_name || e.target_agency_id) : "");
    case "escalation": return "Eskalasi: " + (KIND[e.escalation_kind] || e.escalation_kind) + " level " + e.level + ", " + (CLOCK[e.clock] || e.clock) + " " + agency + " → " + (TARGET[e.target] || e.target);
    case "dead_letter": return "Pesan gagal: " + e.reason + " (" + e.source_topic + ")";
    default: return e.kind;
  }
}
async function showTimeline(id) {
  $("#timeline-error").textContent = ""; $("#timeline").replaceChildren(); $("#timeline-facts").textContent = "";
  if (!id) return;
  try {
    const t = await getJSON("/api/timeline/" + encodeURIComponent(id));
    $("#timeline-id").value = t.complaint_id;
    const f = t.facts;
    $("#timeline-facts").textContent = t.complaint_id + " · saluran " + (f.channel || "–") + " · privasi " + (f.privacy || "–") + " · kategori " + (f.category_name || f.category || "–") + " · wilayah " + (f.region_name || f.region_code || "–") + (t.closed_at ? " · ditutup " + when(t.closed_at) : "");
    $("#timeline").replaceChildren(...t.events.map((e) => { const li = el("li"); li.appendChild(el("time", when(e.at))); li.appendChild(document.createTextNode(describe(e))); li.dataset.kind = e.kind; return li; }));
  } catch (err) { $("#timeline-error").textContent = err.message; }
}

let refreshes = 0;
async function refresh() {
  // The 5-second refresh and a change of period can overlap; only the latest request may render,
  // or a slow answer for the old period would replace the rows of the one just chosen.
  const mine = ++refreshes;
  try {
    const overview = await getJSON("/api/overview");
    const rows = await getJSON("/api/compliance?period=" + $("#period").value);
    const units = await getJSON("/api/units?period=" + $("#period").value);
    if (mine !== refreshes) return;
    renderUnits(units);
    renderOverview(overview);
    renderBridge(overview.bridge || []);
    complianceRows = rows;
    renderCompliance();
  } catch (err) { console.warn("refresh failed", err.message); }
}
async function start() {
  await whoAmI();
  escalations = await getJSON("/api/escalations");
  renderEscalations();
  live();
  await refresh();
  setInterval(refresh, 5000);
  $("#esc-level").onchange = () => renderEscalations();
  $("#esc-agency").oninput = () => renderEscalations();
  $("#period").onchange = refresh;
  $("#trend-agency").onchange = renderTrend;
  for (const th of document.querySelectorAll("#compliance th[data-key]")) th.onclick = () => { sort = { key: th.dataset.key, asc: sort.key === th.dataset.key ? !sort.asc : false }; renderCompliance(); };
  $("#timeline-form").onsubmit = (ev) => {
    ev.preventDefault();
    const id = $("#timeline-id").value.trim();
    if (decodeURIComponent(location.hash.slice(1)) === id) showTimeline(id); else location.hash = id;  // hashchange shows it
  };
  window.onhashchange = () => showTimeline(decodeURIComponent(location.hash.slice(1)));
  if (location.hash.length > 1) showTimeline(decodeURIComponent(location.hash.slice(1)));
}
start();
