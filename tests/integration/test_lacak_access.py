"""Lacak's principal on the real broker (SASL/SCRAM over TLS, deny-by-default ACLs): the
internet-facing process reads the routings and the judged statuses it shows, and nothing
that holds a reporter's identity (accepted and dead-lettered records, the triage queue, the
agencies' topics, the notifications); it writes no topic at all and joins no group. The
provisioned grants are exactly the plan's two reads."""

from __future__ import annotations

import json

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topics import (
    ACCEPTED, ADMIN_STATUS, CLAIMS, REJECTED, ROUTED, STATUS, SUBMITTED, TICKS, TRIAGE, agency_status_topic_name,
    agency_topic_name, notifications_topic_name,
)
from services.tools.access import check, provision
from services.tools.access_plan import Operation, Pattern, Resource, service, service_user
from tests.kafka_helpers import as_principal, consume, isolated, produce

pytestmark = pytest.mark.broker
CID = "LPR-7K2QX9M4TD5W"
RECORD = (CID.encode(), json.dumps({"complaint_id": CID, "reporter": {"name": "Budi"}}).encode())


@pytest.fixture
async def deployment(broker_settings: Settings) -> Settings:
    settings = isolated(broker_settings)
    await provision(settings, ["pln"])
    return settings


async def test_lacak_reads_only_what_it_shows_and_writes_nothing(deployment: Settings) -> None:
    admin = deployment
    lacak = as_principal(admin, service_user(admin, "lacak"))
    for topic in (ROUTED, STATUS, ACCEPTED, REJECTED, TRIAGE, agency_topic_name("pln")):
        await produce(admin, topic, [RECORD])

    for shown in (ROUTED, STATUS):  # what it shows: allowed
        assert [r.value for r in await consume(lacak, shown, expected=1, quiet_s=0.5)] == [RECORD[1]]
    for identities in (ACCEPTED, REJECTED, TRIAGE, agency_topic_name("pln"), notifications_topic_name("sms")):
        with pytest.raises(TopicAuthorizationFailedError):
            await consume(lacak, identities, timeout_s=10)
    for topic in (ROUTED, STATUS, REJECTED, CLAIMS, ADMIN_STATUS, SUBMITTED, TICKS,
                  agency_status_topic_name("pln")):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(lacak, topic, [RECORD])
    # It follows its topics with no consumer group, and may not use one.
    consumer = AIOKafkaConsumer(admin.topic(ROUTED), **aiokafka_options(lacak), group_id="lapor-lacak",
                                enable_auto_commit=False, auto_offset_reset="earliest")
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            await consumer.start()  # joining the group is refused
            await consumer.getmany(timeout_ms=10_000)
    finally:
        await consumer.stop()
    # Nothing was written by it: the shown topics still hold the operator's one record each.
    for shown in (ROUTED, STATUS):
        assert len(await consume(admin, shown, timeout_s=5, quiet_s=1)) == 1


async def test_the_broker_grants_lacak_exactly_the_plan_two_reads(deployment: Settings) -> None:
    known, grants = check(deployment, service_user(deployment, "lacak"))
    assert known
    expected = {(Resource.topic, Pattern.literal, deployment.topic(t), Operation.read) for t in (ROUTED, STATUS)}
    assert {(g.resource, g.pattern, g.name, g.operation) for g in grants} == expected
    assert set(service(deployment, "lacak").grants) == set(grants)
