"""A faust table manager whose recovery seeks before it resumes the source partitions.

faust-streaming 0.15.3 resumes the source partitions *then* awaits the seek to committed
offsets. Records fetched in between are processed, and the ones still queued when the seek
lands are dropped, while the fetch position moves past them: a worker restarted onto a
backlog silently skipped dozens of messages in our crash test. Here the source partitions stay
paused until faust's seek has finished, so consumption starts exactly at the committed
offsets (re-reading is harmless: every produced event has a deterministic id).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery


class SeekFirstRecovery(Recovery):
    @contextmanager
    def _sources_held(self) -> Iterator[None]:
        consumer = self.app.consumer
        original = consumer.resume_partitions
        held: set[Any] = set()

        def resume_changelogs_only(partitions: Any) -> None:
            partitions = set(partitions)
            sources = {tp for tp in partitions if not self._is_changelog_tp(tp)}
            held.update(sources)
            original(partitions - sources)

        consumer.resume_partitions = resume_changelogs_only  # type: ignore[method-assign,assignment]
        try:
            yield
        finally:
            consumer.resume_partitions = original  # type: ignore[method-assign]
            assignment = consumer.assignment()
            resumed = {tp for tp in held if tp in assignment}
            if resumed:
                original(resumed)
            self.log.info("Resumed %d of %d held source partitions after the seek",
                          len(resumed), len(held))

    async def _resume_streams(self, generation_id: int = 0) -> None:
        with self._sources_held():
            await super()._resume_streams(generation_id)

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        with self._sources_held():
            await super().on_recovery_completed(generation_id)


class SeekFirstTableManager(TableManager):
    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekFirstRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
