"""The active-partition view handed to aiokafka (see services/common/faust_consumer.py)."""

from __future__ import annotations

from faust.types import TP

from services.common.faust_consumer import _ActiveView

SOURCE, CHANGELOG = TP("complaints.submitted.v1", 0), TP("lapor-intake-seen-changelog", 0)


def test_an_empty_active_set_is_never_read_as_every_partition() -> None:
    live: set[TP] = set()
    view = _ActiveView(live)
    # aiokafka's fetched_records drains every partition when `partitions` is falsy.
    assert bool(view) is True
    assert SOURCE not in view and len(view) == 0


def test_the_view_follows_the_live_set_while_a_fetch_waits() -> None:
    live = {CHANGELOG}
    view = _ActiveView(live)
    assert CHANGELOG in view and SOURCE not in view
    live.discard(CHANGELOG)          # recovery pauses the changelog
    assert CHANGELOG not in view
    live.add(SOURCE)                 # the sources are resumed after the seek
    assert SOURCE in view and list(view) == [SOURCE]
