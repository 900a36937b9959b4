"""A batch whose outputs could not be sent is read again, never lost. The fault campaign once
lost a router batch so: creating a new agency's topic failed while a broker node restarted,
faust restarted the agent inside the worker, and the batch was acked and committed past with
none of its outputs sent. Now a retriable error is ridden out, and anything else stops the
worker with the batch unacked, so whoever holds its partition next reads it again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions

from schemas import RoutedEvent
from tests.ids import make_complaint_id
from services.runtime.admin import create_topics
from services.runtime.kafka_client import aiokafka_options
from services.runtime.settings import Settings
from services.runtime.topics import ACCEPTED, ROUTED, TopicSpec, agency_topic_name
from tests.integration.test_router import accepted
from tests.kafka_helpers import consume, create_contract_topics, isolated, produce
from tests.workers import running


async def test_a_batch_that_could_not_deliver_is_read_again_by_the_next_worker(
    broker_settings: Settings, tmp_path: Path,
) -> None:
    settings = isolated(broker_settings)
    await create_contract_topics(settings)
    # PLN's topic made by hand with another partition count than the catalogue's: the
    # router's first delivery to PLN fails (TopicMismatchError), as no retry can mend.
    pln = agency_topic_name("pln")
    await create_topics(settings, [TopicSpec(pln, "complaint_id", 1, settings.replication_factor)])
    cid = make_complaint_id("web", "failed-batch-1")
    await produce(settings, ACCEPTED, [(cid.encode(), json.dumps(
        accepted(cid, "Token listrik tidak masuk ke meteran sejak kemarin")).encode())])

    with running("router", settings, tmp_path, name="router-1") as first:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 180
        while first.proc.poll() is None:  # the worker stops by itself: the positive marker
            assert loop.time() < deadline, first.log_text()[-3000:]
            await asyncio.sleep(0.2)
        log = first.log_text()
    assert '"event":"batch_failed"' in log and "TopicMismatchError" in log

    # The operator mends the topic; the next worker routes the complaint the first could not.
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        await admin.create_partitions({settings.topic(pln): NewPartitions(total_count=settings.partitions)})
    finally:
        await admin.close()
    with running("router", settings, tmp_path, name="router-2"):
        routed = [RoutedEvent.model_validate_json(r.value)
                  for r in await consume(settings, ROUTED, expected=1, timeout_s=120, quiet_s=1)]
    assert [(r.complaint_id, r.agency_id, r.attempt) for r in routed] == [(cid, "pln", 1)]
    delivered = await consume(settings, pln, expected=1, timeout_s=30, quiet_s=1)
    assert [json.loads(r.value)["complaint_id"] for r in delivered] == [cid]
