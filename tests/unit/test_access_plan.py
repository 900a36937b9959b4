"""Who may do what (services/tools/access_plan.py), checked against Kafka's matching rules:
a literal grant covers one name, a prefixed grant every name that starts with it."""

from __future__ import annotations

from services.domain.registry import load_registry
from services.runtime.settings import Settings
from schemas import Channel
from services.runtime.topics import (
    ADMIN_STATUS, AUTO_DISPOSITIONS, CLAIMS, CLOSURES, DRAFTS, SMS, STATUS, SUBMITTED, agency_status_topic_name, agency_topic_name,
    notifications_topic_name, reporter_status_topic_name,
)
from services.tools.access_plan import (
    Grant, Operation, Pattern, Principal, Resource, Role, agency, plan,
)

SETTINGS = Settings(topic_prefix="prod.")
AGENCIES = ["pln", "bpjs-kesehatan", "pemda-32", "pemda-32-73", "kemensos"]
PLAN = plan(SETTINGS, AGENCIES)


def covers(grant: Grant, resource: Resource, name: str, op: Operation) -> bool:
    if grant.resource is not resource or grant.operation not in (op, Operation.all):
        return False
    return name == grant.name if grant.pattern is Pattern.literal else name.startswith(grant.name)


def may(p: Principal, resource: Resource, name: str, op: Operation) -> bool:
    return any(covers(g, resource, name, op) for g in p.grants)


def topic(name: str) -> str:
    return SETTINGS.topic(name)


def who(op: Operation, name: str) -> set[str]:
    return {p.user for p in PLAN if may(p, Resource.topic, topic(name), op)}


def test_an_agency_reads_its_own_topic_and_writes_its_own_statuses_only() -> None:
    for a in AGENCIES:
        p = agency(SETTINGS, a)
        assert p.user == f"prod.agency-{a}" and p.role is Role.agency
        assert may(p, Resource.topic, topic(agency_topic_name(a)), Operation.read)
        assert may(p, Resource.topic, topic(agency_status_topic_name(a)), Operation.write)
        assert may(p, Resource.group, topic(f"agency.{a}.inbox"), Operation.read)
        assert not may(p, Resource.topic, topic(STATUS), Operation.write)
        for other in AGENCIES:
            if other == a:
                continue
            assert not may(p, Resource.topic, topic(agency_topic_name(other)), Operation.read)
            assert not may(p, Resource.topic, topic(agency_status_topic_name(other)), Operation.write)
            # ids are prefixes of each other (pemda-32, pemda-32-73): groups stay apart
            assert not may(p, Resource.group, topic(f"agency.{other}.inbox"), Operation.read)


def test_only_the_router_writes_agency_topics_and_only_the_gate_reads_their_statuses() -> None:
    # Besides the agency itself, only the bridge (which carries agencies that use HTTP) and
    # the desk (agency staff signed in on its pages) read an agency's complaints and write its
    # statuses; the disposition stage (the agency's own rules to its units) reads them and
    # writes its own topic alone.
    for a in AGENCIES:
        assert who(Operation.write, agency_topic_name(a)) == {"prod.svc-router"}
        assert who(Operation.read, agency_topic_name(a)) == {f"prod.agency-{a}", "prod.svc-bridge",
                                                             "prod.svc-desk", "prod.svc-disposition"}
        assert who(Operation.read, agency_status_topic_name(a)) == {"prod.svc-status-gate"}
        assert who(Operation.write, agency_status_topic_name(a)) == {f"prod.agency-{a}", "prod.svc-bridge",
                                                                     "prod.svc-desk"}


def test_only_the_disposition_stage_writes_automatic_dispositions_and_only_the_gate_reads_them() -> None:
    # The topic is the signature: an automatic disposition (rule_id) comes from svc-disposition
    # alone, and no agency can write one.
    assert who(Operation.write, AUTO_DISPOSITIONS) == {"prod.svc-disposition"}
    assert who(Operation.read, AUTO_DISPOSITIONS) == {"prod.svc-status-gate"}


def test_statuses_reach_complaints_status_only_through_the_gate_and_the_judge() -> None:
    # The router judges every claim and alone writes complaints.status.v1; only the gate
    # writes claims, and only the router reads them.
    assert who(Operation.write, STATUS) == {"prod.svc-router"}
    assert who(Operation.write, CLAIMS) == {"prod.svc-status-gate"}
    assert who(Operation.read, CLAIMS) == {"prod.svc-router"}
    # The national admin's `assigned` (and the operations page's triage action, a signed-in
    # national operator's) goes through the gate like every other status.
    assert who(Operation.write, ADMIN_STATUS) == {"prod.national-admin", "prod.svc-ops-view"}
    assert who(Operation.read, ADMIN_STATUS) == {"prod.svc-status-gate"}
    # The SLA monitor's auto-close and the reporters' statuses go through the gate.
    assert who(Operation.write, CLOSURES) == {"prod.svc-sla-monitor"}
    assert who(Operation.read, CLOSURES) == {"prod.svc-status-gate"}
    for c in Channel:
        assert who(Operation.write, reporter_status_topic_name(c)) == {f"prod.channel-{c.value}"}
        assert who(Operation.read, reporter_status_topic_name(c)) == {"prod.svc-status-gate"}


def test_units_drafts_are_the_desks_alone() -> None:
    # A unit's answer waiting for its admin's approval (#34) is the agency's text: the
    # public tracking page (lacak), the operations page and the agencies never read it.
    assert who(Operation.read, DRAFTS) == {"prod.svc-desk"}
    assert who(Operation.write, DRAFTS) == {"prod.svc-desk"}


def test_channels_write_their_input_and_read_replies_but_no_agency_topic() -> None:
    channels = [p for p in PLAN if p.role is Role.channel]
    assert {p.user for p in channels} >= {"prod.channel-web", "prod.channel-sms"}
    for p in channels:
        sms = p.user == "prod.channel-sms"
        assert may(p, Resource.topic, topic(SMS), Operation.write) is sms
        assert may(p, Resource.topic, topic(SUBMITTED), Operation.write) is not sms
        own = p.user.removeprefix("prod.channel-")
        for c in Channel:  # its own replies only: an SMS reply may carry a sender's number
            assert may(p, Resource.topic, topic(notifications_topic_name(c)), Operation.read) is (
                c.value == own)
        assert not any(may(p, Resource.topic, topic(agency_topic_name(a)), Operation.read)
                       for a in AGENCIES)


def test_every_grant_stays_inside_the_deployment_prefix() -> None:
    assert all(g.name.startswith("prod.") for p in PLAN for g in p.grants)
    staging = plan(Settings(topic_prefix="staging."), AGENCIES)
    assert not any(may(p, r, g.name, g.operation) for p in staging for g in
                   (g for q in PLAN for g in q.grants) for r in Resource)


def test_the_whole_registry_gets_one_principal_per_agency() -> None:
    ids = load_registry(None).ids()
    full = plan(Settings(), ids)
    assert {p.user for p in full if p.role is Role.agency} == {f"agency-{a}" for a in ids}
