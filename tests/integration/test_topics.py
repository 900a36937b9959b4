from __future__ import annotations

import pytest

from services.runtime.admin import (
    TopicMismatchError, create_topics, describe_configs, existing_partitions,
)
from services.runtime.settings import Settings
from services.runtime.topics import (
    BRIDGE_SEEN_CALLS, DAY_MS, NOTIFICATION_TOPICS, STAFF_SIGNED_OUT, catalogue,
)
from tests.kafka_helpers import isolated


# The bridge's replay cache (a day, far past any replay window) and staff sign-outs (a week,
# past any session): the only delete-policy topics kept for less than 60 working days.
SHORT_LIVED = {BRIDGE_SEEN_CALLS: DAY_MS, STAFF_SIGNED_OUT: 7 * DAY_MS}


async def test_topics_create_builds_the_catalogue_and_is_idempotent(
    broker_settings: Settings,
) -> None:
    settings = isolated(broker_settings)
    specs = catalogue(settings)
    first = await create_topics(settings, specs)
    assert sorted(first.created) == sorted(settings.topic(s.name) for s in specs)

    have = await existing_partitions(settings, [settings.topic(s.name) for s in specs])
    assert have == {settings.topic(s.name): s.partitions for s in specs}
    for spec in specs:
        configs = await describe_configs(settings, settings.topic(spec.name))
        assert configs["cleanup.policy"] == spec.cleanup_policy
        assert configs["retention.ms"] == str(spec.retention_ms)
        if spec.name in NOTIFICATION_TOPICS:  # reply addresses: kept only for delivery retries
            assert int(configs["retention.ms"]) == settings.notifications_retention_days * DAY_MS
        elif spec.name in SHORT_LIVED:  # bookkeeping that means nothing past its window
            assert int(configs["retention.ms"]) == SHORT_LIVED[spec.name]
        elif spec.cleanup_policy == "compact":  # every rules version, for replays
            assert int(configs["retention.ms"]) == -1
        else:
            assert int(configs["retention.ms"]) > 120 * 24 * 3600 * 1000  # > 60 working days

    second = await create_topics(settings, specs)
    assert second.created == []
    assert "nothing changed" in second.summary()


async def test_topics_create_refuses_a_partition_mismatch(broker_settings: Settings) -> None:
    settings = isolated(broker_settings)
    await create_topics(settings, catalogue(settings))
    other = settings.model_copy(update={"partitions": settings.partitions + 1})
    with pytest.raises(TopicMismatchError, match="complaints.accepted.v1 has 2 partitions"):
        await create_topics(other, catalogue(other))
