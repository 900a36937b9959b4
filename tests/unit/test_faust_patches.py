"""The faust patches (services/runtime/faust_patches.py), each pinned by a test that fails
when the patch stops doing its job. The recovery ordering (patch 1) and the offsets guard
(patch 4) need a broker: the crash tests and tests/integration/test_offsets.py pin them."""

from __future__ import annotations

import asyncio
from unittest.mock import AsyncMock, patch

import pytest
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP
from mode.services import Service, WaitResults

from services.runtime.faust_patches import (
    VERIFIED, ActiveView, GuardedConsumer, InlineDeliveryConsumer, PatchedApp,
    UnverifiedVersionError, check_versions,
)

SOURCE, CHANGELOG = TP("complaints.submitted.v1", 0), TP("lapor-intake-seen-changelog", 0)


def test_an_empty_active_set_is_never_read_as_every_partition() -> None:
    live: set[TP] = set()
    view = ActiveView(live)
    # aiokafka's fetched_records drains every partition when `partitions` is falsy.
    assert bool(view) is True
    assert SOURCE not in view and len(view) == 0


def test_the_view_follows_the_live_set_while_a_fetch_waits() -> None:
    live = {CHANGELOG}
    view = ActiveView(live)
    assert CHANGELOG in view and SOURCE not in view
    live.discard(CHANGELOG)          # recovery pauses the changelog
    assert CHANGELOG not in view
    live.add(SOURCE)                 # the sources are resumed after the seek
    assert SOURCE in view and list(view) == [SOURCE]


async def test_getmany_hands_aiokafka_the_never_empty_view() -> None:
    consumer = GuardedConsumer.__new__(GuardedConsumer)
    with patch.object(Consumer, "_getmany", AsyncMock(return_value={})) as parent:
        await consumer._getmany(set(), 1.0)
    assert parent.await_args is not None
    handed = parent.await_args.args[0]
    assert isinstance(handed, ActiveView) and bool(handed)


async def test_a_partition_committed_at_offset_zero_is_sought_too() -> None:
    consumer = GuardedConsumer.__new__(GuardedConsumer)
    other = TP("complaints.submitted.v1", 1)
    seek = AsyncMock()
    with patch.object(Consumer, "seek_to_committed", AsyncMock(return_value={SOURCE: 0, other: 7})), \
            patch.object(GuardedConsumer, "_seek", seek, create=True):
        assert await consumer.seek_to_committed() == {SOURCE: 0, other: 7}
    # aiokafka itself sought `other` (offset 7 is truthy); offset 0 it skips, so we seek it.
    seek.assert_awaited_once_with(SOURCE, 0)


def test_the_runtime_refuses_unverified_versions() -> None:
    check_versions(dict(VERIFIED))  # the verified pair passes
    with pytest.raises(UnverifiedVersionError, match="aiokafka 0.13.0"):
        check_versions({**VERIFIED, "aiokafka": "0.13.0"})
    with pytest.raises(UnverifiedVersionError, match="faust-streaming"):
        check_versions({"aiokafka": VERIFIED["aiokafka"]})


def test_the_installed_versions_are_the_verified_ones() -> None:
    check_versions()  # what pyproject pins is what the patches were verified for


def test_recovery_resumes_changelogs_at_once_and_sources_only_after_the_seek() -> None:
    # Patch 1's own part: while faust resumes partitions after recovery, the sources are held
    # (only changelogs resume); on leaving, the held sources still assigned resume, others not.
    import logging
    from types import SimpleNamespace

    from services.runtime.faust_patches import SeekFirstRecovery

    resumed: list[set[TP]] = []
    revoked = TP("complaints.sms.v1", 1)
    consumer = SimpleNamespace(resume_partitions=lambda parts: resumed.append(set(parts)),
                               assignment=lambda: {SOURCE, CHANGELOG})
    recovery = SeekFirstRecovery.__new__(SeekFirstRecovery)
    recovery.__dict__.update(app=SimpleNamespace(consumer=consumer), log=logging.getLogger("test"))
    recovery._is_changelog_tp = lambda tp: tp.topic.endswith("-changelog")  # type: ignore[method-assign]
    with recovery._sources_held():
        consumer.resume_partitions({SOURCE, CHANGELOG, revoked})
        assert resumed == [{CHANGELOG}]  # the sources wait for their seek
    assert resumed == [{CHANGELOG}, {SOURCE}]  # the revoked one stays paused
    assert consumer.resume_partitions({SOURCE}) is None and resumed[-1] == {SOURCE}  # restored


# --- 5. records delivered inline ------------------------------------------------------------
def inline_consumer() -> InlineDeliveryConsumer:
    consumer = PatchedApp("patch-5-test", broker="kafka://127.0.0.1:1").consumer
    assert isinstance(consumer, InlineDeliveryConsumer)
    return consumer


async def test_a_delivery_that_does_not_block_runs_inline_without_the_race() -> None:
    consumer = inline_consumer()
    delivered: list[int] = []

    async def delivery() -> int:
        delivered.append(1)
        return 7

    with patch.object(Service, "wait_first", AsyncMock()) as race:
        results = await consumer.wait_first(delivery(), consumer.suspend_flow.wait())
    race.assert_not_awaited()
    assert delivered == [1] and results.results == [7] and not results.stopped


async def test_a_delivery_that_blocks_finishes_where_it_stopped() -> None:
    consumer = inline_consumer()
    buffer_has_room: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    steps: list[str] = []

    async def delivery() -> int:
        steps.append("before")
        room = await buffer_has_room
        steps.append("after")
        return room + 1

    racing = asyncio.ensure_future(consumer.wait_first(delivery(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    assert steps == ["before"] and not racing.done()
    buffer_has_room.set_result(41)
    results = await asyncio.wait_for(racing, 5)
    assert steps == ["before", "after"] and results.results == [42]


async def test_a_blocked_delivery_gives_way_when_faust_suspends_the_flow() -> None:
    consumer = inline_consumer()
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[str] = []

    async def delivery() -> None:
        try:
            await never
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    racing = asyncio.ensure_future(consumer.wait_first(delivery(), consumer.suspend_flow.wait()))
    await asyncio.sleep(0.01)
    consumer.suspend_flow.set()  # a rebalance
    results = await asyncio.wait_for(racing, 5)
    await asyncio.sleep(0)
    assert seen == ["cancelled"] and results.results == [True]


async def test_while_the_flow_is_suspended_every_delivery_takes_the_race() -> None:
    consumer = inline_consumer()
    consumer.suspend_flow.set()

    async def delivery() -> int:
        return 1

    pair = (delivery(), consumer.suspend_flow.wait())
    raced = WaitResults([], [], True)
    with patch.object(Service, "wait_first", AsyncMock(return_value=raced)) as race:
        assert await consumer.wait_first(*pair) is raced
    race.assert_awaited_once_with(*pair, timeout=None)
    for coro in pair:
        coro.close()  # the stand-in race never ran them


async def test_a_delivery_that_fails_inline_raises_as_in_the_race() -> None:
    consumer = inline_consumer()

    async def delivery() -> None:
        raise ValueError("undecodable")

    with pytest.raises(ValueError, match="undecodable"):
        await consumer.wait_first(delivery(), consumer.suspend_flow.wait())
