"""Codes in words for the staff pages (services/domain/labels.py): every category, type and
tier has a name in Bahasa Indonesia; a region code is its place; a routing reason a phrase;
an unknown code shows as itself. The desk's pages and the operations page's JSON use them, and
the three sites serve their icon at /favicon.ico with their security headers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, web

from schemas import Category, ComplaintType, SlaTier
from services.desk.actions import available
from services.desk.pages import complaint_page, queue_page
from services.desk.view import DeskView
from services.desk.web import DeskSite
from services.domain.calendar import WorkingCalendar, load_calendar
from tests.ids import make_complaint_id
from services.domain.labels import (
    category_name, reason_text, region_name, tier_name, type_and_tier, type_name,
)
from services.domain.registry import load_registry
from services.domain.sla_policy import load_policy
from services.ops_view import queries
from services.ops_view.handlers import BOARD, TIMELINES
from services.lacak.web import LacakSite
from services.ops_view.web import OpsSite
from services.runtime.settings import Settings
from services.web.staff_signin import OidcProvider, StaffSignIn
from services.web.site import NO_SCRIPT_CSP, SECURITY_HEADERS
from tests.unit.test_desk import MON, delivered
from tests.web_sites import served

CID = make_complaint_id("web", "labels-1")
TRIAGED = make_complaint_id("web", "labels-2")


def names(agency_id: str) -> str:
    found = load_registry().get(agency_id)
    return found.name if found else agency_id


@pytest.mark.parametrize("codes, name", [(Category, category_name), (ComplaintType, type_name),
                                         (SlaTier, tier_name)])
def test_every_code_of_the_contract_has_a_name(codes: Any, name: Any) -> None:
    for code in codes:
        assert name(code.value) not in ("", code.value), code  # a word, not the code again
    assert name("no_such_code") == "no_such_code" and name(None) == ""  # never a crash


def test_the_names_the_desk_shows() -> None:
    assert category_name("electricity") == "Listrik"
    assert type_and_tier("complaint", "standard_5d") == "Pengaduan · 5 hari kerja"
    assert type_and_tier("odd", "odder") == "odd · odder"
    assert region_name("73.71") == "Kota Makassar"
    assert region_name("7371") == "Kota Makassar"  # as a channel may type it
    assert region_name("73.71.01.1001") == "Bontorannu, Mariso, Kota Makassar"  # not the province
    for unknown in ("99.99", "abc", ""):
        assert region_name(unknown) == unknown


@pytest.mark.parametrize("reason, text", [
    ("category electricity", "kategori Listrik"),
    ("category nothing_known", "kategori nothing_known"),
    ("keyword 'token listrik'", "kata kunci 'token listrik'"),
    ("pattern '\\bppdb\\b'", "pola '\\bppdb\\b'"),
    ("region 73.71: Pemerintah Kota Makassar", "wilayah Kota Makassar"),
    ("region 73.71", "wilayah Kota Makassar"),
    ("type aspiration", "jenis Aspirasi"),
    ("tembusan: category water", "tembusan: kategori Air bersih"),
    ("agency_hint pln chosen by the reporter", "PT PLN (Persero) dipilih pelapor"),
    ("named by pln as responsible", "ditunjuk PT PLN (Persero) sebagai yang berwenang"),
    ("not_our_authority from pln; category social_assistance",
     "bukan wewenang PT PLN (Persero); kategori Bantuan sosial"),
    ("assigned by the national admin", "ditugaskan oleh admin nasional"),
    ("triage", "tidak ada aturan atau wilayah yang cocok"),
    ("no rule or region claims the complaint", "tidak ada aturan atau wilayah yang cocok"),
    ("ping_pong", "berulang kali dinyatakan bukan wewenang"),
    ("not_our_authority", "dinyatakan bukan wewenang oleh instansi sebelumnya"),
    ("a reason of a shape nobody wrote", "a reason of a shape nobody wrote"),
    (None, ""),
])
def test_a_routing_reason_in_words(reason: str | None, text: str) -> None:
    assert reason_text(reason, names) == text


def test_the_desk_shows_names_not_codes() -> None:
    v = DeskView(load_registry(), WorkingCalendar(), load_policy(None), closed_days=30)
    v.delivered(delivered(CID, "pln", tier="standard_5d", category="electricity",
                          location={"region_code": "73.71", "address": "Jl. Somba Opu"},
                          routing={"role": "primary", "rule_id": "pln", "routed_at": MON.isoformat(),
                                   "attempt": 1, "reason": "category electricity"}))
    v.tick(MON)
    queue = queue_page("pln", "PT PLN", v.queue("pln"), "pln", "tok", v.now, "Asia/Jakarta")
    assert "<td>Listrik</td>" in queue and "electricity" not in queue
    facts, delivery = v.holding("pln", CID) or (None, None)
    assert facts is not None and delivery is not None
    page = complaint_page("pln", delivery, v.clocks(facts, "pln"), v.timeline(facts, "pln"),
                          available(v, facts, "pln"), [], "pln", "tok", None, None, "Asia/Jakarta",
                          agency_name=names)
    assert "<dd>Listrik</dd>" in page
    assert "<dd>Pengaduan · 5 hari kerja</dd>" in page
    assert "<dd>Kota Makassar, Jl. Somba Opu</dd>" in page
    assert "(kategori Listrik)</dd>" in page
    for code in ("electricity", "standard_5d", "73.71", "complaint ·"):
        assert code not in page, code
    assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page


def test_a_routing_without_a_reason_shows_its_rule() -> None:
    v = DeskView(load_registry(), WorkingCalendar(), load_policy(None), closed_days=30)
    v.delivered(delivered(CID, "pln"))
    facts, delivery = v.holding("pln", CID) or (None, None)
    assert facts is not None and delivery is not None
    page = complaint_page("pln", delivery, [], [], [], [], "pln", "tok", None, None, "Asia/Jakarta")
    assert "(aturan test)</dd>" in page


def test_the_desk_timeline_names_agencies() -> None:
    v = DeskView(load_registry(), WorkingCalendar(), load_policy(None), closed_days=30)
    v.delivered(delivered(CID, "pln"))
    facts, delivery = v.holding("pln", CID) or (None, None)
    assert facts is not None and delivery is not None
    timeline = [{"at": MON.isoformat(), "status": "not_our_authority", "by": "pln", "note": None,
                 "target_agency_id": "kemensos"}]
    page = complaint_page("pln", delivery, [], timeline, [], [], "pln", "tok", None, None, "Asia/Jakarta",
                          agency_name=names)
    assert f"oleh {names('pln')} → {names('kemensos')}" in page


STORES: dict[str, Any] = {
    BOARD: {"triage|0": {TRIAGED: {"since": "2026-03-02T13:00:00+07:00", "attempt": 3, "reason": "ping_pong"}}},
    TIMELINES: {
        CID: {"facts": {"channel": "web", "category": "electricity", "region_code": "73.71"}, "events": [
            ["2026-03-02T09:15:00+07:00", "accepted", {"channel": "web", "category": "electricity"}],
            ["2026-03-02T09:15:00+07:00", "routed", {"agency_id": "pln", "role": "primary", "rule_id": "pln",
                                                     "reason": "category electricity", "attempt": 1}],
            ["2026-03-03T09:15:00+07:00", "status", {"status": "not_our_authority", "agency_id": "pln",
                                                     "target_agency_id": "kemensos"}]]},
        TRIAGED: {"facts": {}, "events": [
            ["2026-03-02T09:15:00+07:00", "routed", {"agency_id": "pemda-33-74", "role": "primary",
                                                     "rule_id": "region", "reason": "region 33.74", "attempt": 1}],
            ["2026-03-02T13:00:00+07:00", "routed", {"agency_id": None, "role": "primary", "rule_id": "ping_pong",
                                                     "reason": "ping_pong", "attempt": 3}]]}},
}


def test_the_operations_timeline_carries_names_next_to_codes() -> None:
    line = queries.timeline(STORES[TIMELINES], CID, load_registry())
    assert line["facts"]["category_name"] == "Listrik" and line["facts"]["region_name"] == "Kota Makassar"
    accepted, routed, status = line["events"]
    assert accepted["category"] == "electricity" and accepted["category_name"] == "Listrik"
    assert routed["reason_text"] == "kategori Listrik"
    assert status["target_agency_name"] == names("kemensos")
    dead = {CID: {"facts": {}, "events": [["2026-03-02T09:15:00+07:00", "dead_letter", {
        "reason": "ping_pong", "source_topic": "complaints.status.v1"}]]}}
    assert "reason_text" not in queries.timeline(dead, CID)["events"][0]  # a dead letter's reason is a code


async def get(url: str) -> tuple[int, dict[str, str], bytes]:
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(url) as answer:
            return answer.status, dict(answer.headers), await answer.read()


def signin(cookie: str) -> StaffSignIn:
    """A site's sign-in that is never asked to reach its provider (nobody signs in here)."""
    return StaffSignIn(OidcProvider("https://id.lapor.example/realms/lapor", "lapor", "secret"),
                       Settings(), cookie)


async def test_the_operations_overview_names_the_agencies_in_a_triage_history() -> None:
    site = OpsSite(STORES, load_registry(None), load_calendar(None), Settings().ops_hosts())
    async with served(site.app()) as server:
        async with ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/api/overview") as answer:
                assert answer.status == 200
                overview = await answer.json()
    (waiting,) = overview["triage"]
    assert waiting["held_by"] == ["pemda-33-74"]
    assert waiting["held_by_names"] == ["Pemerintah Kota Semarang"]
    assert waiting["reason_text"] == "berulang kali dinyatakan bukan wewenang"


@pytest.fixture(params=["desk", "ops", "ops-signed-in", "lacak"])
async def site(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """A site and the first directive of its CSP (the desk's page has no script at all)."""
    registry, settings = load_registry(None), Settings()
    app: web.Application
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    if request.param == "desk":
        view = DeskView(registry, WorkingCalendar(), load_policy(None), closed_days=30)

        async def publish(_: Any) -> None:
            raise AssertionError("nothing is published")
        app = DeskSite(view, signin("lapor_desk"), publish, frozenset({"127.0.0.1"})).app()
        csp = NO_SCRIPT_CSP
    elif request.param == "lacak":
        app = LacakSite({}, registry, frozenset({"127.0.0.1"}), per_minute=60).app()
    else:
        app = OpsSite({BOARD: {}, TIMELINES: {}}, registry, load_calendar(None), settings.ops_hosts(),
                      signin=signin("lapor_ops") if request.param == "ops-signed-in" else None).app()
    async with served(app) as server:
        yield f"http://127.0.0.1:{server.port}", csp


async def test_each_site_serves_its_icon_to_anyone_with_its_security_headers(site: tuple[str, str]) -> None:
    url, csp = site
    status, headers, body = await get(f"{url}/favicon.ico")
    assert status == 200 and headers["Content-Type"] == "image/svg+xml"
    assert body.startswith(b"<svg") and b"<script" not in body
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    policy = headers["Content-Security-Policy"].split("; ")
    assert "img-src 'self'" in policy or "img-src 'self' data:" in policy  # the icon may load
    assert policy[1] == csp.split("; ")[1]  # the site's own policy (the desk's: no script)


def test_the_operations_and_tracking_pages_link_the_icon() -> None:
    for package, name in (("services.ops_view", "index.html"), ("services.lacak", "lacak.html")):
        # the desk's layout: test_the_desk_shows_names_not_codes
        page = resources.files(package).joinpath(f"static/{name}").read_text("utf-8")
        assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in page, name


def test_a_disposition_step_names_the_unit_or_the_agencys_admin() -> None:
    from services.domain.labels import disposition_text
    from services.domain.tracking import timeline

    assert disposition_text("Dinas Sosial Kota Bandung") == "Didisposisikan ke Dinas Sosial Kota Bandung"
    assert disposition_text(None) == "Dikembalikan ke admin instansi"
    line: dict[str, Any] = {"facts": {}, "closed_at": None, "events": [
        ["2026-03-03T10:00:00+07:00", "status", {"status": "disposed", "agency_id": "pemda-32-73",
                                                 "unit_name": "Dinas Sosial Kota Bandung"}],
        ["2026-03-04T10:00:00+07:00", "status", {"status": "disposed", "agency_id": "pemda-32-73"}],
        ["2026-03-05T10:00:00+07:00", "status", {"status": "acknowledged", "agency_id": "pemda-32-73"}]]}
    shown = timeline({CID: line}, CID, load_registry())["events"]
    assert [(e.get("disposition_text"), e["agency_name"]) for e in shown] == [
        ("Didisposisikan ke Dinas Sosial Kota Bandung", "Pemerintah Kota Bandung"),
        ("Dikembalikan ke admin instansi", "Pemerintah Kota Bandung"),
        (None, "Pemerintah Kota Bandung")]
