"""Allowed lateness (contract addition "Late statuses and ticks"). Statuses and ticks travel
on different topics, so a status given before a moment can be read after a tick past it (a
restart, a rebalance, a slow agency link). A tick therefore fires only the moments it has
passed by the allowed lateness: it acts at its *horizon*, `as_of` minus the lateness, and a
status read before a tick whose horizon reaches the moment still stops or pauses its clock in
time. So the same log gives the same escalations whatever the interleaving within the
lateness. A status read later than that still moves its clock from its `at` (event time
decides what is owed from then on), but an escalation already emitted stays: the status is
counted as late (a log note with ids, and so the stage's `lapor_handled` metric)."""

from __future__ import annotations

from datetime import datetime, timedelta


def horizon(as_of: datetime, lateness: timedelta) -> datetime:
    """What a tick at `as_of` may decide: the moments (and state ends) at or before this."""
    return as_of - lateness


def is_late(watermark: datetime | None, at: datetime, lateness: timedelta) -> bool:
    """A status at `at` read when the partition's ticks had reached `watermark`: late once a
    tick's horizon has reached `at` (a moment at `at` or after it may have fired without it)."""
    return watermark is not None and horizon(watermark, lateness) >= at
