"""Composition root of the disposition stage: the units book of the deployment's registry,
the stage over it, and the follower that keeps the book current (memory and broker alike)."""

from __future__ import annotations

from collections.abc import Callable

from services.disposition.handlers import STAGE, follow_units, handler
from services.domain.registry import load_registry
from services.domain.unit_catalogue import starting_units
from services.domain.units import UnitsBook
from services.runtime.logging import get_logger
from services.runtime.settings import Settings
from services.runtime.stage import Stage
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import AGENCY_TOPIC


def starting_book(settings: Settings) -> UnitsBook:
    """Every agency of the deployment's registry with its starting units (version 0)."""
    return UnitsBook(starting_units(load_registry(settings.agencies_file)))


def build(settings: Settings, book: UnitsBook | None = None) -> Stage:
    """The stage over `book` (by default the starting units alone: tests, the memory runtime)."""
    return Stage(STAGE, (), (), handler(book if book is not None else starting_book(settings)),
                 input_families=(AGENCY_TOPIC,))


def units_feed(book: UnitsBook) -> Callable[[TopicRecord], None]:
    """What the follower of agency.units.v1 calls for each record: the book takes a newer
    version; a record it cannot take is logged with its position (never its content)."""
    def feed(record: TopicRecord) -> None:
        applied = follow_units(book, record.value)
        log = get_logger()
        if not isinstance(applied, str):
            log.info("units_applied", agency_id=applied.agency_id, version=applied.version,
                     offset=record.offset)
        elif applied == "invalid_unit_set":  # a tombstone or an older version is no news
            log.warning("units_skipped", reason=applied, topic=record.topic,
                        partition=record.partition, offset=record.offset)
    return feed
