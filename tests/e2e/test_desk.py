"""People at both ends, in a real browser (Debian's Chromium driven by Playwright): staff sign
in with the real provider (Keycloak, started by the test session) and work on the whole
pipeline on the broker (intake, router, SLA monitor, status gate, ops view, desk).

PLN's user sees only PLN's queue, acknowledges a complaint (its first-response clock stops:
no escalation once the deadline passes, while BPJS's untouched complaint breaches, the
marker) and refuses another as "bukan wewenang" (the router passes it to Kemensos). BPJS's
user sees its anonymous complaint with no identity, cannot open PLN's complaint by any URL
or API, cannot act without the form's CSRF token, and after signing out cannot act at all.
A complaint PLN's own system never took (a bridge.undelivered.v1 mark, fed on the broker) is
marked on PLN's desk (queue, filter, page, API) and nowhere on BPJS's; the operations page
counts it per agency, with a delivery report's 410 state; its tombstone ends both.
A national operator assigns a triaged complaint, which then reaches PLN's desk. The public
tracking page shows the anonymous complaint's progress and no identity. No page of ours
logs a console error; screenshots of the desk are left in the test's folder."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page, async_playwright

from schemas import (
    AgencyComplaint, BridgeDelivery, BridgeUndelivered, Escalation, RoutedEvent, StatusDraft, StatusEvent, UnitSet,
)
from services.domain.registry import load_registry
from services.domain.unit_catalogue import starting_units
from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.runtime.topics import (
    BRIDGE_DELIVERIES, BRIDGE_UNDELIVERED, DRAFTS, ESCALATIONS, ROUTED, STATUS, SUBMITTED, UNITS,
    agency_status_topic_name, agency_topic_name,
)
from services.tools.broker import free_port
from services.tools.signin_provider import DEMO_ACCOUNTS, RunningProvider, client_settings
from tests.harness import harness
from tests.staff_browser import CHROMIUM, sign_in as sign_in_as, watch_console

pytestmark = pytest.mark.broker

PASSWORDS = {a.username: a.password for a in DEMO_ACCOUNTS}
ANON = {"name": "Rahmat Hidayat", "phone": "+6281398765432", "email": "rahmat@contoh.id",
        "nik": "3273011203870005"}


def submission(sid: str, body: str, now: datetime, **more: object) -> tuple[bytes, bytes]:
    data = {"submission_id": sid, "channel": "web", "submitted_at": now.isoformat(), "body": body, **more}
    return sid.encode(), json.dumps(data).encode()


async def eventually(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"


async def shows(page: Page, url: str, selector: str, timeout_s: float = 60) -> None:
    """Reload `url` until `selector` is on it (the desk renders on the server)."""
    async def present() -> bool:
        await page.goto(url)
        if await page.query_selector(selector) is not None:
            return True
        await page.wait_for_timeout(500)
        return False
    await eventually(present, f"{selector} on {url}", timeout_s)


async def gone(page: Page, url: str, selector: str, timeout_s: float = 60) -> None:
    async def absent() -> bool:
        await page.goto(url)
        if await page.query_selector(selector) is None:
            return True
        await page.wait_for_timeout(500)
        return False
    await eventually(absent, f"{selector} gone from {url}", timeout_s)


async def sign_in(context: BrowserContext, url: str, user: str) -> Page:
    return await sign_in_as(context, url, user, PASSWORDS[user])


async def answering(url: str, timeout_s: float = 90) -> None:
    """Until the site answers at all (a worker takes seconds to start)."""
    async def up() -> bool:
        try:
            await asyncio.to_thread(urllib.request.urlopen, url, None, 2)
        except urllib.error.HTTPError:
            pass  # an answer, if not a 200
        except OSError:
            await asyncio.sleep(0.5)
            return False
        return True
    await eventually(up, f"{url} answering", timeout_s)


async def test_staff_work_their_desk_and_reporters_track_their_complaint(
    request: pytest.FixtureRequest, broker_settings: Settings, signin_provider: RunningProvider,
    tmp_path: Path,
) -> None:
    desk_port, ops_port, lacak_port = free_port(), free_port(), free_port()
    desk, ops, lacak = (f"http://127.0.0.1:{p}" for p in (desk_port, ops_port, lacak_port))
    now = datetime.now(UTC).replace(microsecond=0)
    sids = {"ack": "desk-ack", "refuse": "desk-refuse", "anon": "desk-anon", "triage": "desk-triage"}
    cid = {k: make_complaint_id("web", s) for k, s in sids.items()}
    services = ["intake", "router", "sla_monitor", "status_gate", "ops_view", "desk", "lacak"]
    errors: list[str] = []
    async with harness(request, "broker", services, tmp_path, agencies=("pln", "bpjs-kesehatan", "kemensos"),
                       desk_port=desk_port, ops_port=ops_port, lacak_port=lacak_port,
                       **client_settings(signin_provider, tmp_path / "signin")) as h, \
            async_playwright() as pw:
        await h.publish(SUBMITTED, [
            submission(sids["ack"], "Token listrik PLN tidak masuk sejak kemarin", now, title="Token listrik"),
            submission(sids["refuse"], "Listrik padam, bantuan sosial PKH juga belum cair", now,
                       agency_hint="pln", title="Padam dan bansos"),
            submission(sids["anon"], "Kartu BPJS Kesehatan JKN saya ditolak di puskesmas", now,
                       privacy="anonymous", reporter=ANON, title="Kartu JKN ditolak"),
            submission(sids["triage"], "Terima kasih atas pelayanannya", now),
        ])
        await h.tick(now.isoformat())  # the desk's "now" is the ticks' (the ticker's, live)
        for site in (desk, ops, lacak):
            await answering(site + "/")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ours = (desk, ops, lacak)

        # --- PLN: its queue only; acknowledge one complaint, refuse the other -------------
        pln_ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
        pln = await sign_in(pln_ctx, f"{desk}/", "pln")
        watch_console(pln, ours, errors)
        queue = f"{desk}/a/pln/"
        await shows(pln, queue, f"tr[data-complaint='{cid['refuse']}']", timeout_s=90)
        await shows(pln, queue, f"tr[data-complaint='{cid['ack']}']")
        rows = await pln.eval_on_selector_all("tbody tr", "rs => rs.map(r => r.dataset.complaint)")
        assert sorted(rows) == sorted([cid["ack"], cid["refuse"]])
        first = await pln.text_content(f"tr[data-complaint='{cid['ack']}'] [data-clock='first_response']")
        assert first is not None and "hari kerja setelah hari ini" in first
        await pln.screenshot(path=str(tmp_path / "desk-queue.png"), full_page=True)

        await pln.click(f"a[href='/a/pln/c/{cid['ack']}']")
        assert await pln.text_content(".body") == "Token listrik PLN tidak masuk sejak kemarin"
        await pln.click("form[data-action='acknowledged'] button")
        await pln.wait_for_selector(".notice")
        page_url = f"{desk}/a/pln/c/{cid['ack']}"
        await shows(pln, page_url, ".timeline li[data-status='acknowledged']")
        assert await pln.get_attribute("[data-clock='first_response']", "data-state") == "stopped"
        assert await pln.query_selector("form[data-action='acknowledged']") is None  # once only
        await pln.screenshot(path=str(tmp_path / "desk-complaint.png"), full_page=True)

        await pln.goto(f"{desk}/a/pln/c/{cid['refuse']}")
        form = "form[data-action='not_our_authority']"
        await pln.select_option(f"{form} select[name=target_agency_id]", "kemensos")
        await pln.fill(f"{form} textarea[name=note]", "Bansos PKH adalah wewenang Kemensos")
        await pln.click(f"{form} button")
        await pln.wait_for_selector(".notice")
        await gone(pln, queue, f"tr[data-complaint='{cid['refuse']}']")

        async def rerouted() -> bool:
            routed = [RoutedEvent.model_validate_json(v) for _, v in await h.read(ROUTED, timeout_s=3)]
            return any(r.complaint_id == cid["refuse"] and r.agency_id == "kemensos" and r.attempt == 2
                       for r in routed)
        await eventually(rerouted, "the refused complaint re-routed to Kemensos")

        # --- PLN's own system never took the acknowledged one (the bridge gave up on it):
        # marked on PLN's desk. A mark keyed for BPJS on PLN's complaint shows nowhere ------
        delivery = next(d for d in (AgencyComplaint.model_validate_json(v) for _, v in
                                    await h.read(agency_topic_name("pln"), timeout_s=3))
                        if d.complaint_id == cid["ack"])
        await h.publish(BRIDGE_UNDELIVERED, [
            (f"pln|{cid['ack']}".encode(), BridgeUndelivered(
                agency_id="pln", complaint_id=cid["ack"], event_id=delivery.event_id, reason="bridge_gave_up",
                at=now + timedelta(minutes=5), http_status=503).to_bytes()),
            (f"bpjs-kesehatan|{cid['ack']}".encode(), BridgeUndelivered(
                agency_id="bpjs-kesehatan", complaint_id=cid["ack"], event_id="not-bpjs-delivery",
                reason="bridge_skipped", at=now).to_bytes())])
        await h.publish(BRIDGE_DELIVERIES, [(b"pln", BridgeDelivery(
            agency_id="pln", mode="webhook", as_of=now, started_at=now, pending=0, oldest_undelivered_s=0,
            retrying=False, delivered=1, refused=0, failed_tries=3, statuses_in=0, gave_up=1,
            disabled=True).to_bytes())])
        marked = f"tr[data-complaint='{cid['ack']}'][data-undelivered='bridge_gave_up']"
        await shows(pln, queue, marked)
        text = await pln.text_content(f"{marked} .undelivered")
        assert text is not None and text.startswith(
            "Tidak masuk ke sistem instansi Anda: dihentikan setelah batas waktu (jawaban terakhir HTTP 503)")
        assert text.endswith("tangani di sini")
        await pln.goto(f"{queue}?undelivered=1")
        assert await pln.eval_on_selector_all("tbody tr", "rs => rs.map(r => r.dataset.complaint)") == [cid["ack"]]
        await pln.screenshot(path=str(tmp_path / "desk-undelivered.png"), full_page=True)
        await pln.goto(page_url)
        banner = await pln.text_content("p.undelivered")
        assert banner is not None and "dihentikan setelah batas waktu" in banner and "dilewati" not in banner
        api = await (await pln.request.get(f"{desk}/api/a/pln/queue?undelivered=1")).json()
        assert [(c["complaint_id"], c["undelivered"]["reason"]) for c in api["complaints"]] == [
            (cid["ack"], "bridge_gave_up")]

        # --- BPJS: its anonymous complaint without identity; nothing of PLN's -------------
        bpjs_ctx = await browser.new_context()
        bpjs = await sign_in(bpjs_ctx, f"{desk}/", "bpjs")
        watch_console(bpjs, ours, errors)
        await shows(bpjs, f"{desk}/a/bpjs-kesehatan/", f"tr[data-complaint='{cid['anon']}']")
        assert await bpjs.eval_on_selector_all("tbody tr", "rs => rs.map(r => r.dataset.complaint)") == [cid["anon"]]
        assert await bpjs.query_selector("[data-undelivered]") is None
        assert "Tidak masuk ke sistem instansi Anda:" not in await bpjs.content()
        only = await (await bpjs.request.get(f"{desk}/api/a/bpjs-kesehatan/queue?undelivered=1")).json()
        assert only["total"] == 0
        await bpjs.goto(f"{desk}/a/bpjs-kesehatan/c/{cid['anon']}")
        content = await bpjs.content()
        assert "Kartu BPJS Kesehatan JKN saya ditolak" in content and "<dd>anonim</dd>" in content
        for value in (*ANON.values(), "Rahmat", "081398765432"):
            assert value not in content
        for guess in ("/a/pln/", f"/a/pln/c/{cid['ack']}", f"/a/bpjs-kesehatan/c/{cid['ack']}",
                      "/api/a/pln/queue", f"/api/a/pln/c/{cid['ack']}",
                      f"/api/a/bpjs-kesehatan/c/{cid['ack']}", f"/a/bpjs-kesehatan/c/{cid['ack'].lower()}"):
            answer = await bpjs.request.get(desk + guess)
            assert answer.status == 404, guess
            assert cid["ack"] not in await answer.text()
        mine = await bpjs.request.get(f"{desk}/api/a/bpjs-kesehatan/c/{cid['anon']}")
        assert mine.status == 200 and (await mine.json())["complaint"]["complaint_id"] == cid["anon"]
        # Acting on PLN's complaint from BPJS's session, with BPJS's own token: 404.
        csrf = await bpjs.get_attribute("form.signout input[name=csrf]", "value")
        assert csrf
        cross = await bpjs.request.post(f"{desk}/a/pln/c/{cid['ack']}/status", form={
            "csrf": csrf, "form_id": "x" * 20, "status": "resolved"})
        assert cross.status == 404
        # No CSRF token, or another site's: refused, and nothing is sent.
        no_token = await bpjs.request.post(f"{desk}/a/bpjs-kesehatan/c/{cid['anon']}/status",
                                           form={"form_id": "y" * 20, "status": "resolved"})
        assert no_token.status == 403
        other_site = await bpjs.request.post(f"{desk}/a/bpjs-kesehatan/c/{cid['anon']}/status", form={
            "csrf": csrf, "form_id": "z" * 20, "status": "resolved"}, headers={"Origin": "http://evil.example"})
        assert other_site.status == 403

        # --- The national operator assigns the triaged complaint to PLN -----------------
        op_ctx = await browser.new_context(viewport={"width": 1400, "height": 1100})
        op = await sign_in(op_ctx, f"{ops}/", "operator")
        watch_console(op, ours, errors)
        row = f"#triage tbody tr[data-complaint='{cid['triage']}']"
        await op.wait_for_selector(row, timeout=60_000)
        op_csrf = await op.input_value("#signout input[name=csrf]")
        assign = f"{ops}/api/triage/{{}}/assign"
        no_csrf = await op.request.post(assign.format(cid["triage"]), data={"target_agency_id": "pln"})
        assert no_csrf.status == 403
        not_waiting = await op.request.post(assign.format(cid["ack"]), data={"target_agency_id": "pln"},
                                            headers={"X-CSRF-Token": op_csrf})
        assert not_waiting.status == 409
        agency_user = await pln.request.post(assign.format(cid["triage"]), data={"target_agency_id": "pln"})
        assert agency_user.status == 401  # PLN's desk session is not a session of this site
        await op.select_option(f"{row} select", "pln")
        await op.click(f"{row} button")
        await op.wait_for_selector(row, state="detached", timeout=60_000)
        await shows(pln, queue, f"tr[data-complaint='{cid['triage']}']")
        # The desk refuses PLN's user on the operations page, and the operator has no desk.
        assert (await pln.request.get(f"{ops}/api/overview")).status == 401  # another site's cookie
        assert (await op.request.get(f"{ops}/api/overview")).status == 200

        # --- The operations page counts the undelivered per agency, with PLN's 410 state; the
        # tombstone (a later delivery) ends PLN's mark on both pages ----------------------
        bridge_row = "#bridge tbody tr[data-agency='{}']"
        await op.wait_for_selector(bridge_row.format("pln") + "[data-undelivered='1'][data-disabled='true']",
                                   timeout=60_000)
        await op.wait_for_selector(bridge_row.format("bpjs-kesehatan") + "[data-undelivered='1']")
        assert "nonaktif (410)" in await op.inner_text(bridge_row.format("pln"))
        await h.publish(BRIDGE_UNDELIVERED, [(f"pln|{cid['ack']}".encode(), None)])
        await gone(pln, queue, "tr[data-undelivered]")
        await pln.goto(page_url)
        assert await pln.query_selector("p.undelivered") is None
        await op.wait_for_selector(bridge_row.format("pln") + "[data-undelivered='0']", timeout=60_000)
        assert await op.get_attribute(bridge_row.format("bpjs-kesehatan"), "data-undelivered") == "1"
        await op.screenshot(path=str(tmp_path / "ops-bridge.png"), full_page=True)

        # --- Past every deadline: BPJS's untouched complaint breaches (the marker); PLN's
        # acknowledged one has no first-response escalation ----------------------------
        await h.tick((now + timedelta(days=30)).isoformat())
        fired: list[Escalation] = []

        async def marker() -> bool:
            fired[:] = [Escalation.model_validate_json(v) for _, v in await h.read(ESCALATIONS, timeout_s=3)]
            return any(e.complaint_id == cid["anon"] and e.clock.value == "first_response" and e.level >= 1
                       for e in fired)
        await eventually(marker, "BPJS's first-response breach")
        assert [e for e in fired if e.complaint_id == cid["ack"] and e.clock.value == "first_response"] == []
        await shows(bpjs, f"{desk}/a/bpjs-kesehatan/",
                    f"tr[data-complaint='{cid['anon']}'] [data-clock='first_response'][data-state='breached']")
        assert await bpjs.get_attribute(f"tr[data-complaint='{cid['anon']}'] [data-clock='first_response']",
                                        "data-level") != "0"

        # --- Signed out, BPJS's old session can do nothing ------------------------------
        await bpjs.click("form.signout button")
        await bpjs.wait_for_url(f"{desk}/")
        assert await bpjs.query_selector("a[href='/auth/login']") is not None
        after = await bpjs.request.post(f"{desk}/a/bpjs-kesehatan/c/{cid['anon']}/status", form={
            "csrf": csrf, "form_id": "w" * 20, "status": "resolved"})
        assert after.status == 403
        api = await bpjs.request.get(f"{desk}/api/a/bpjs-kesehatan/queue")
        assert api.status == 401

        # What BPJS's refused posts would have sent: nothing. PLN's acknowledgement and
        # refusal are on PLN's topic (the marker); BPJS's topic has no record at all.
        sent = [StatusEvent.model_validate_json(v) for _, v in await h.read(agency_status_topic_name("pln"), 2)]
        assert sorted(s.status.value for s in sent) == ["acknowledged", "not_our_authority"]
        assert await h.read(agency_status_topic_name("bpjs-kesehatan"), timeout_s=3) == []
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, timeout_s=3)]
        assert not any(s.agency_id == "bpjs-kesehatan" for s in passed)
        assert any(s.status.value == "assigned" and s.complaint_id == cid["triage"]
                   and s.target_agency_id == "pln" for s in passed)

        # --- Public tracking: progress, no identity --------------------------------------
        track = await (await browser.new_context()).new_page()
        watch_console(track, ours, errors)
        await track.goto(f"{lacak}/lacak?id={cid['anon'].lower()}")
        await track.wait_for_selector("#lacak-steps li")
        text = await track.inner_text("body")
        assert "BPJS Kesehatan" in text
        for value in (*ANON.values(), "Rahmat", "ditolak di puskesmas"):
            assert value not in text
        await track.screenshot(path=str(tmp_path / "lacak.png"), full_page=True)
        await browser.close()
    assert errors == []


async def test_an_agencys_admin_dispositions_and_a_unit_sees_only_its_own(
    request: pytest.FixtureRequest, broker_settings: Settings,
    signin_provider: RunningProvider, tmp_path: Path,
) -> None:
    """Units inside an agency (#34), through the whole status path (desk, gate, judge, desk):
    Kota Bandung's admin dispositions one complaint to Dinas PUPR from its page and another to
    Dinas Kesehatan; PUPR's staff (`/lapor/agency-pemda-32-73/unit-dinas-pupr`) see the first
    and not the second (404 by any URL, as between agencies), then hand the first back to the
    admin with a note: it leaves PUPR's queue and is the admin's again."""
    desk_port = free_port()
    desk = f"http://127.0.0.1:{desk_port}"
    bdg, pupr_id = "pemda-32-73", "dinas-pupr"
    now = datetime.now(UTC).replace(microsecond=0)
    sids = {"road": "units-road", "clinic": "units-clinic"}
    cid = {k: make_complaint_id("web", s) for k, s in sids.items()}
    errors: list[str] = []
    async with harness(request, "broker", ["intake", "router", "status_gate", "desk"], tmp_path,
                       agencies=(bdg,), desk_port=desk_port,
                       **client_settings(signin_provider, tmp_path / "signin")) as h, async_playwright() as pw:
        where = {"region_code": "32.73.02"}
        await h.publish(SUBMITTED, [
            submission(sids["road"], "Jalan berlubang besar di Jl. Soekarno-Hatta dekat halte", now,
                       title="Jalan berlubang", agency_hint=bdg, location=where),
            submission(sids["clinic"], "Puskesmas tutup pada jam layanan, antrean pasien terlantar", now,
                       title="Puskesmas tutup", agency_hint=bdg, location=where),
        ])
        await h.tick(now.isoformat())
        await answering(desk + "/")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

        # --- The admin: the whole agency, each complaint's unit; dispositions from the page --
        admin_ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
        admin = await sign_in(admin_ctx, f"{desk}/", "bandung")
        watch_console(admin, (desk,), errors)
        queue = f"{desk}/a/{bdg}/"
        for key in cid:
            await shows(admin, queue, f"tr[data-complaint='{cid[key]}'] td[data-unit='']", timeout_s=90)
        assert "Belum didisposisikan" in await admin.inner_text(f"tr[data-complaint='{cid['road']}']")
        await admin.goto(f"{queue}c/{cid['road']}")
        form = "form[data-action='disposed']"
        await admin.select_option(f"{form} select[name=unit_id]", pupr_id)
        await admin.fill(f"{form} textarea[name=note]", "Mohon ditinjau ke lokasi minggu ini")
        await admin.screenshot(path=str(tmp_path / "desk-units-disposition.png"), full_page=True)
        await admin.click(f"{form} button")
        await admin.wait_for_selector(".notice")
        await admin.goto(f"{queue}c/{cid['clinic']}")
        await admin.select_option(f"{form} select[name=unit_id]", "dinas-kesehatan")
        await admin.click(f"{form} button")
        await admin.wait_for_selector(".notice")
        await shows(admin, queue, f"tr[data-complaint='{cid['road']}'] td[data-unit='{pupr_id}']")
        await shows(admin, queue, f"tr[data-complaint='{cid['clinic']}'] td[data-unit='dinas-kesehatan']")
        await admin.goto(f"{queue}?unit={pupr_id}")
        assert await admin.eval_on_selector_all("tbody tr", "rs => rs.map(r => r.dataset.complaint)") == [
            cid["road"]]
        await admin.goto(f"{queue}c/{cid['road']}")
        assert await admin.get_attribute("dd.unit", "data-unit") == pupr_id
        assert await admin.query_selector(".timeline li[data-status='disposed'] .unit[data-unit='dinas-pupr']")

        # --- PUPR's staff: their unit's complaint only ----------------------------------
        pupr_ctx = await browser.new_context(viewport={"width": 1300, "height": 700})
        pupr = await sign_in(pupr_ctx, f"{desk}/", "pupr")
        watch_console(pupr, (desk,), errors)
        mine = f"{desk}/a/{bdg}/u/{pupr_id}/"
        assert pupr.url == mine  # the only desk of the account
        await shows(pupr, mine, f"tr[data-complaint='{cid['road']}']")
        assert await pupr.eval_on_selector_all("tbody tr", "rs => rs.map(r => r.dataset.complaint)") == [
            cid["road"]]
        await pupr.screenshot(path=str(tmp_path / "desk-units-queue.png"), full_page=True)
        for guess in (f"{mine}c/{cid['clinic']}", f"/api/a/{bdg}/u/{pupr_id}/c/{cid['clinic']}",
                      f"/a/{bdg}/u/dinas-kesehatan/c/{cid['clinic']}", f"/a/{bdg}/", f"/a/{bdg}/c/{cid['road']}",
                      f"/api/a/{bdg}/queue"):
            answer = await pupr.request.get(guess if guess.startswith("http") else desk + guess)
            assert answer.status == 404, guess
            assert cid["clinic"] not in await answer.text()
        csrf = await pupr.get_attribute("form.signout input[name=csrf]", "value")
        assert csrf
        cross = await pupr.request.post(f"{mine}c/{cid['clinic']}/status", form={
            "csrf": csrf, "form_id": "x" * 20, "status": "in_progress"})
        assert cross.status == 404

        # --- PUPR hands the road back: out of its queue, the admin's again ------------------
        await pupr.goto(f"{mine}c/{cid['road']}")
        assert await pupr.query_selector("form[data-action='not_our_authority']") is None
        back = "form[data-action='handed_back']"
        await pupr.fill(f"{back} textarea[name=note]", "Saluran drainase, bukan jalan: wewenang bidang lain")
        await pupr.click(f"{back} button")
        await gone(pupr, mine, f"tr[data-complaint='{cid['road']}']")
        assert (await pupr.request.get(f"{mine}c/{cid['road']}")).status == 404
        await shows(admin, queue, f"tr[data-complaint='{cid['road']}'] td[data-unit='']")

        sent = [StatusEvent.model_validate_json(v) for _, v in await h.read(agency_status_topic_name(bdg), 3)]
        assert [(s.complaint_id, s.unit_id) for s in sent if s.status.value == "disposed"] == [
            (cid["road"], pupr_id), (cid["clinic"], "dinas-kesehatan"), (cid["road"], None)]
        await browser.close()
    assert errors == []


async def test_a_units_answer_waits_for_the_admins_approval(
    request: pytest.FixtureRequest, broker_settings: Settings,
    signin_provider: RunningProvider, tmp_path: Path,
) -> None:
    """Approval by the liaison officer (#34), through the whole status path: Kota Bandung
    publishes its units with `approval: true`; Dinas PUPR's staff answer a complaint, which
    makes a draft (desk.drafts.v1) and no status; the admin sends it back with a note, PUPR
    drafts again, and the admin approves: the agency's status topic carries the `responded`
    with the draft's text once (an approval sent again is refused), and the judge passes it
    once. Draft text never reaches a status before the approval."""
    desk_port = free_port()
    desk = f"http://127.0.0.1:{desk_port}"
    bdg, pupr_id = "pemda-32-73", "dinas-pupr"
    now = datetime.now(UTC).replace(microsecond=0)
    road = make_complaint_id("web", "approval-road")
    first, answer = "Sudah kami tangani.", "Lubang di Jl. Soekarno-Hatta ditambal 7 Oktober (SPK 12/PUPR/2026)."
    errors: list[str] = []
    async with harness(request, "broker", ["intake", "router", "status_gate", "desk"], tmp_path,
                       agencies=(bdg,), desk_port=desk_port,
                       **client_settings(signin_provider, tmp_path / "signin")) as h, async_playwright() as pw:
        starting = starting_units(load_registry(None))(bdg)
        approving = UnitSet.model_validate({**starting.model_dump(mode="json"), "version": 1,
                                            "published_at": now.isoformat(), "approval": True})
        await h.publish(UNITS, [(bdg.encode(), approving.to_bytes())])
        await h.publish(SUBMITTED, [submission(
            "approval-road", "Jalan berlubang besar di Jl. Soekarno-Hatta dekat halte", now,
            title="Jalan berlubang", agency_hint=bdg, location={"region_code": "32.73.02"})])
        await h.tick(now.isoformat())
        await answering(desk + "/")
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

        # --- The admin dispositions the road to PUPR ----------------------------------------
        admin_ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
        admin = await sign_in(admin_ctx, f"{desk}/", "bandung")
        watch_console(admin, (desk,), errors)
        queue, page = f"{desk}/a/{bdg}/", f"{desk}/a/{bdg}/c/{road}"
        await shows(admin, queue, f"tr[data-complaint='{road}']", timeout_s=90)
        await admin.goto(page)
        await admin.select_option("form[data-action='disposed'] select[name=unit_id]", pupr_id)
        await admin.click("form[data-action='disposed'] button")
        await admin.wait_for_selector(".notice")

        # --- PUPR answers: a draft, not a status ------------------------------------------
        pupr_ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
        pupr = await sign_in(pupr_ctx, f"{desk}/", "pupr")
        watch_console(pupr, (desk,), errors)
        mine = f"{desk}/a/{bdg}/u/{pupr_id}/c/{road}"
        await shows(pupr, mine, "form[data-action='responded']")
        respond = "form[data-action='responded']"
        assert "menunggu persetujuan admin" in (await pupr.text_content(f"{respond} button") or "")
        await pupr.fill(f"{respond} textarea[name=note]", first)
        await pupr.click(f"{respond} button")
        await pupr.wait_for_selector(".notice")
        await shows(pupr, mine, "section.draft[data-state='pending']")  # once the desk read it back
        assert await pupr.query_selector(respond) is None  # no second answer while it waits
        drafts = [StatusDraft.model_validate_json(v) for _, v in await h.read(DRAFTS, expected=1)]
        assert [(d.unit_id, d.status.value, d.note, d.state) for d in drafts] == [
            (pupr_id, "responded", first, "pending")]
        # The draft is on its topic (the marker): the agency's status topic has no answer.
        sent = [StatusEvent.model_validate_json(v) for _, v in await h.read(agency_status_topic_name(bdg), 1)]
        assert [s.status.value for s in sent] == ["disposed"]

        # --- The admin sends it back with a note; PUPR sees it and drafts again -----------
        await shows(admin, queue, f"tr[data-complaint='{road}'][data-draft='pending']")
        await admin.goto(page)
        assert await admin.text_content("section.draft .draft-text") == first
        await admin.fill("form[data-decision='reject'] textarea[name=review_note]", "Sebutkan tanggal dan SPK")
        await admin.click("form[data-decision='reject'] button")
        await admin.wait_for_selector(".notice")
        await shows(pupr, mine, "section.draft[data-state='rejected']")
        assert await pupr.text_content("section.draft .review-note") == "Sebutkan tanggal dan SPK"
        await pupr.fill(f"{respond} textarea[name=note]", answer)
        await pupr.click(f"{respond} button")
        await pupr.wait_for_selector(".notice")

        # --- The admin approves: one `responded` with the draft's text --------------------
        await shows(admin, page, "section.draft[data-state='pending'] form[data-decision='approve']")
        assert await admin.text_content("section.draft .draft-text") == answer
        await admin.screenshot(path=str(tmp_path / "desk-units-approval.png"), full_page=True)
        approve = "form[data-decision='approve']"
        resend: dict[str, str | float | bool] = {
            name: await admin.get_attribute(f"{approve} input[name={name}]", "value") or ""
            for name in ("csrf", "draft_id", "decision")}
        await admin.click(f"{approve} button")
        await admin.wait_for_selector(".notice")
        await shows(admin, page, "section.draft[data-state='approved']")
        again = await admin.request.post(f"{page}/draft", form=resend)  # read back approved: refused
        assert again.status == 400
        await shows(admin, page, ".timeline li[data-status='responded']")
        # The admin's own `resolved` (no approval) after it: judged after the answer (one
        # partition per complaint), the marker that the judge has seen all before it.
        await admin.fill("form[data-action='resolved'] textarea[name=note]", "Selesai")
        await admin.click("form[data-action='resolved'] button")
        await admin.wait_for_selector(".notice")

        async def judged_resolved() -> bool:
            passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, timeout_s=3)]
            return any(s.complaint_id == road and s.status.value == "resolved" for s in passed)
        await eventually(judged_resolved, "the admin's resolved judged")
        passed = [StatusEvent.model_validate_json(v) for _, v in await h.read(STATUS, timeout_s=3)]
        assert [(s.note, s.agency_id) for s in passed if s.status.value == "responded"] == [(answer, bdg)]
        assert first not in {s.note for s in passed}
        sent = [StatusEvent.model_validate_json(v) for _, v in await h.read(agency_status_topic_name(bdg), 3)]
        assert [(s.status.value, s.note) for s in sent] == [
            ("disposed", None), ("responded", answer), ("resolved", "Selesai")]
        states = [StatusDraft.model_validate_json(v).state for _, v in await h.read(DRAFTS, expected=4)]
        assert states == ["pending", "rejected", "pending", "approved"]
        await browser.close()
    assert errors == []
