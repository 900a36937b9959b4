"""The operations page in a real browser (Debian's Chromium driven by Playwright) against the
ops_view worker and the three services on the real broker, with a scripted scenario: the page
loads without console errors, shows the expected compliance figures, takes a new escalation
live without a reload, lists a complaint's timeline in order by a loosely typed id, and shows
no identity of an anonymous reporter. A screenshot is left in the test's folder."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from playwright.async_api import async_playwright

from tests.ids import make_complaint_id
from services.runtime.settings import Settings
from services.tools.broker import free_port
from tests.integration.test_sla_monitor import play
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.sla_scenario import tick
from tests.workers import running

CHROMIUM = "/usr/bin/chromium"  # Debian's package, installed by scripts/setup
T = "2026-03-02T09:15:00+07:00"  # Monday
PLN, BPJS, THANKS = (make_complaint_id("web", s) for s in ("ops-pln", "ops-bpjs", "ops-thanks"))


def submission(sid: str, body: str, privacy: str = "public") -> tuple[bytes, bytes]:
    value = {"submission_id": sid, "channel": "web", "submitted_at": T, "body": body, "privacy": privacy,
             "reporter": {"name": "Budi Rahasiawan", "phone": "081299887766", "nik": "3273014506900002"}}
    return sid.encode(), json.dumps(value).encode()


async def page_ready(url: str, timeout_s: float = 60) -> None:
    for _ in range(int(timeout_s * 2)):
        try:
            await asyncio.to_thread(urllib.request.urlopen, url + "api/overview", None, 2)
            return
        except OSError:
            await asyncio.sleep(0.5)
    raise AssertionError(f"the operations page at {url} did not answer within {timeout_s}s")


async def test_the_operations_page_in_a_browser(broker_settings: Settings, tmp_path: Path) -> None:
    settings = isolated(broker_settings).model_copy(update={"ops_port": free_port(),
                                                           "lacak_port": free_port()})
    url = f"http://127.0.0.1:{settings.ops_port}/"
    await create_contract_topics(settings)
    with running("intake", settings, tmp_path), running("router", settings, tmp_path), \
            running("sla_monitor", settings, tmp_path), running("ops_view", settings, tmp_path):
        await produce(settings, "complaints.submitted.v1", [
            submission("ops-pln", "Token listrik tidak masuk ke meteran"),
            submission("ops-bpjs", "BPJS Kesehatan saya dinonaktifkan, NIK 3273014506900002",
                       privacy="anonymous"),
            submission("ops-thanks", "Terima kasih atas pelayanannya"),
            (b"bad", b"{not json"),
        ])
        assert len(await consume(settings, "complaints.routed.v1", expected=3, timeout_s=90)) == 3
        await produce(settings, "complaints.status.v1", [(PLN.encode(), json.dumps({
            "event_id": "ops-ack", "complaint_id": PLN, "status": "acknowledged", "agency_id": "pln",
            "at": "2026-03-03T10:00:00+07:00"}).encode())])
        await asyncio.sleep(3)
        # Saturday 00:00 WIB: BPJS's and triage's first responses are late; the days up to Friday close.
        await play(settings, [tick("2026-03-07T00:00:00+07:00")], pause_s=0)
        await consume(settings, "sla.compliance.v1", expected=2, timeout_s=60)
        await page_ready(url)
        await asyncio.sleep(2)  # the ops view has read what the SLA monitor wrote

        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1400, "height": 1300})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(url)
            await page.wait_for_selector("#escalations tbody tr")
            await page.wait_for_function("document.querySelector('#live').classList.contains('on')")

            # Compliance, by month: PLN answered on time, BPJS's first response breached.
            await page.select_option("#period", "month")
            # (:text-is, not :text: a day's row "2026-03-02" contains "2026-03" and is there before the switch)
            await page.wait_for_selector("#compliance tbody tr td:text-is('2026-03')")
            rows = {r[0]: r for r in await page.eval_on_selector_all(
                "#compliance tbody tr", "rows => rows.map(r => [...r.children].map(c => c.textContent))")}
            assert rows["PT PLN (Persero)"][1:6] == ["2026-03", "1", "1", "0", "100%"]
            assert rows["BPJS Kesehatan"][1:5] == ["2026-03", "1", "0", "0"]
            assert "Tanggapan pertama 1" in rows["BPJS Kesehatan"][6] and "L1 1" in rows["BPJS Kesehatan"][6]

            # A new escalation arrives live: level 2 for BPJS on Thursday 12 March. First, the
            # page shows every escalation written so far (a positive marker), none of level 2.
            so_far = len(await consume(settings, "sla.escalations.v1", timeout_s=10, quiet_s=2))
            assert so_far > 0
            await page.wait_for_function(
                f"document.querySelectorAll('#escalations tbody tr').length === {so_far}")
            assert await page.locator("#escalations .lvl2").count() == 0
            await play(settings, [tick("2026-03-12T00:00:00+07:00")], pause_s=0)
            await page.wait_for_selector("#escalations .lvl2", timeout=60_000)

            # The triage queue and the dead letter.
            await page.wait_for_selector(f"#triage tbody a[href='#{THANKS}']")
            assert "invalid_json" in await page.inner_text("#dead-counts")

            # A complaint's timeline by a loosely typed id, in order.
            await page.fill("#timeline-id", PLN.lower().replace("-", " "))
            await page.click("#timeline-form button")
            await page.wait_for_selector("#timeline li")
            kinds = await page.eval_on_selector_all("#timeline li", "items => items.map(i => i.dataset.kind)")
            assert kinds[:3] == ["accepted", "routed", "status"] and "escalation" in kinds
            assert errors == [], errors  # loaded, filled and updated live without a console error
            await page.fill("#timeline-id", PLN[:-1] + ("A" if PLN[-1] != "A" else "B"))
            await page.click("#timeline-form button")
            await page.wait_for_selector("#timeline-error:text('check')")
            assert [e for e in errors if "400 (Bad Request)" not in e] == [] and len(errors) == 1
            errors.clear()  # (the browser logs the API's 400 for the mistyped id)

            # The anonymous complaint: its events, and no identity anywhere on the page.
            await page.fill("#timeline-id", BPJS)
            await page.click("#timeline-form button")
            await page.wait_for_selector("#timeline li[data-kind='escalation']")
            content = await page.content()
            for identity in ("Budi", "Rahasiawan", "081299887766", "3273014506900002"):
                assert identity not in content
            await page.screenshot(path=str(tmp_path / "ops-page.png"), full_page=True)
            await browser.close()
        assert errors == [], errors

        # `lapor show` prints the same timeline in the terminal.
        shown = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "services.tools.cli", "show", PLN.lower(), "--url", url],
            capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stdout + shown.stderr
        lines = shown.stdout.splitlines()
        assert lines[0].startswith(PLN) and "accepted" in lines[1] and "PT PLN (Persero)" in lines[2]
        assert "acknowledged by PT PLN (Persero)" in lines[3]
        wrong = await asyncio.to_thread(subprocess.run, [
            sys.executable, "-m", "services.tools.cli", "show", PLN[:-1] + ("A" if PLN[-1] != "A" else "B"),
            "--url", url], capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 2 and "check every character" in wrong.stdout
    assert (tmp_path / "ops-page.png").stat().st_size > 10_000
