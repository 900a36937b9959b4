"""The disposition worker: every agency.<agency_id>.complaints.v1 in, `disposed` statuses on
disposition.auto.v1 and dead letters out. It keeps no store, so it runs on the
plain batched consumer (`services.runtime.stateless_runtime`), which also follows agencies
provisioned later; the units in force it follows from agency.units.v1's beginning with no
group, and reads to its end before the first complaint (else a complaint would be
dispositioned by a set already replaced, and its event id would make that one stand)."""

from __future__ import annotations

from services.disposition.compose import build, starting_book, units_feed
from services.runtime.settings import Settings
from services.runtime.stateless_runtime import StatelessWorker
from services.runtime.topic_follow import AssignedFollower
from services.runtime.topics import UNITS


def create_app(settings: Settings) -> StatelessWorker:
    book = starting_book(settings)
    follower = AssignedFollower(settings, (UNITS,), units_feed(book))
    return StatelessWorker(build(settings, book), settings, prerequisite=follower)
