"use strict";
const $ = (s) => document.querySelector(s);
const STEP = {
  received: "Aduan diterima", forwarded: "Diteruskan ke", triage: "Sedang ditelaah admin nasional",
  acknowledged: "Ditanggapi oleh", in_progress: "Sedang diproses oleh", info_requested: "Instansi meminta keterangan tambahan",
  responded: "Tindak lanjut disampaikan oleh", resolved: "Diselesaikan oleh", passed_on: "Bukan wewenang, dialihkan oleh",
  reporter_replied: "Pelapor menanggapi", closed: "Aduan ditutup", handled_by: "Sedang ditangani:",
};
// Which office has the complaint: its unit (when dispositioned to one) and its agency.
function office(s) { return [s.unit_name, s.agency_name].filter(Boolean).join(", "); }
function when(iso) { return new Date(iso).toLocaleString("id-ID", { dateStyle: "medium", timeStyle: "short", timeZone: "Asia/Jakarta" }) + " WIB"; }
async function lacak(id) {
  $("#lacak-error").textContent = ""; $("#lacak-head").textContent = ""; $("#lacak-steps").replaceChildren();
  if (!id.trim()) return;
  const r = await fetch("/api/lacak/" + encodeURIComponent(id.trim()));
  const body = await r.json();
  if (!r.ok) { $("#lacak-error").textContent = body.error; return; }
  $("#lacak-id").value = body.complaint_id;
  $("#lacak-head").textContent = body.complaint_id + (body.closed ? " · selesai" : " · sedang berjalan");
  $("#lacak-steps").replaceChildren(...body.steps.map((s) => {
    const li = document.createElement("li");
    const t = document.createElement("time"); t.textContent = when(s.at); li.appendChild(t);
    const label = STEP[s.step] || s.step;
    const text = s.step === "handled_by" ? label + " " + office(s)
      : s.agency_name && label.endsWith(" oleh") || s.step === "forwarded" && s.agency_name ? label + " " + s.agency_name : label;
    li.appendChild(document.createTextNode(text));
    li.dataset.step = s.step;
    return li;
  }));
}
$("#lacak-form").addEventListener("submit", (e) => { e.preventDefault(); lacak($("#lacak-id").value).catch((err) => { $("#lacak-error").textContent = err.message; }); });
const given = new URLSearchParams(location.search).get("id");
if (given) { $("#lacak-id").value = given; lacak(given); }
