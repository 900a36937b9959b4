"""What a service is to its runtime: input topics, stores, and one pure handler.

A handler takes one input record and a view of the service's stores and returns the
records to produce and notes for the log; its store changes are *staged* in the view. A
runtime (faust in production, `memory` in tests) runs the handler over a batch, sends every
output, awaits the acks, and only then applies the staged writes and lets the offsets go: a
crash anywhere repeats work under the same deterministic ids and loses nothing.

No Kafka here: this module, and every handler, runs the same in memory and on the broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import ValidationError

from schemas import WireModel
from services.runtime.dead_letter import dead_letter, validation_items
from services.runtime.topics import REJECTED, family_member
from schemas.events import ValidationErrorItem


class StoreName(StrEnum):
    """Every store of every service. The values name faust tables and so their changelog
    topics: chosen once, never renamed (a rename loses the state)."""

    seen_submitted = "seen-submitted"  # intake: complaint_id -> first accepted record time
    seen_sms = "seen-sms"
    holdings = "holdings"  # router: complaint_id -> who holds it, refusals, routing facts
    clocks = "clocks"  # sla_monitor: complaint_id -> clocks; "pending:<id>" -> parked events
    due = "due"  # sla_monitor: due index by hour bucket, in chunks
    marks = "marks"  # sla_monitor: partition -> watermark tick
    stats = "stats"  # sla_monitor: "p|agency|day" -> compliance counters
    overdue = "overdue"  # sla_monitor: "p|agency" -> open overdue complaints
    timelines = "timelines"  # ops_view: complaint_id -> what happened to it (no identity)
    board = "board"  # ops_view: per-partition queues and counts, per agency-day compliance


@dataclass(frozen=True, slots=True)
class Record:
    """One input record as a handler sees it (topic by contract name, no deployment prefix)."""

    topic: str
    partition: int
    offset: int
    timestamp: float  # Kafka record time, epoch seconds
    key: bytes | None
    value: bytes | None

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp, UTC)


@dataclass(frozen=True, slots=True)
class Output:
    topic: str  # contract name (an agency topic's too), without the deployment prefix
    key: bytes | None
    value: bytes


@dataclass(frozen=True, slots=True)
class LogNote:
    """What the runtime logs for a record (and counts, by event and reason): an event name
    and ids, never personal data."""

    event: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    level: str = "info"


@dataclass
class Outcome:
    outputs: list[Output] = field(default_factory=list)
    notes: list[LogNote] = field(default_factory=list)

    def note(self, event: str, level: str = "info", **fields: Any) -> Outcome:
        self.notes.append(LogNote(event, fields, level))
        return self


_ABSENT = object()
M = TypeVar("M", bound=WireModel)


class StagedStores:
    """Reads through the writes staged so far in a batch; writes are only staged.

    `writes` maps (store, key) to (value, index of the record that wrote it last); a value
    of None deletes. A record's writes can be rolled back when its handler fails."""

    def __init__(self, stores: Mapping[str, MutableMapping[str, Any]]):
        self._stores = stores
        self.writes: dict[tuple[str, str], tuple[Any, int]] = {}
        self._record = 0
        self._undo: list[tuple[tuple[str, str], Any]] = []

    def begin(self, index: int) -> None:
        self._record, self._undo = index, []

    def rollback(self) -> None:
        for slot, previous in reversed(self._undo):
            if previous is _ABSENT:
                del self.writes[slot]
            else:
                self.writes[slot] = previous
        self._undo = []

    def get(self, store: str, key: str, default: Any = None) -> Any:
        staged = self.writes.get((store, key))
        value = staged[0] if staged is not None else self._stores[store].get(key)
        return default if value is None else value

    def put(self, store: str, key: str, value: Any) -> None:
        slot = (store, key)
        self._undo.append((slot, self.writes.get(slot, _ABSENT)))
        self.writes[slot] = (value, self._record)

    def delete(self, store: str, key: str) -> None:
        self.put(store, key, None)

    def keys(self, store: str) -> list[str]:
        """Keys present once the staged writes apply (scans: only for rare, bounded walks)."""
        staged = {k: v for (s, k), (v, _) in self.writes.items() if s == store}
        kept = [k for k in self._stores[store].keys() if k not in staged]
        return kept + [k for k, v in staged.items() if v is not None]

    def commit(self) -> None:
        """Apply the staged writes to plain mappings (memory runtime, tests, benchmarks)."""
        for (store, key), (value, _) in self.writes.items():
            if value is None:
                self._stores[store].pop(key, None)
            else:
                self._stores[store][key] = value
        self.writes.clear()


Handler = Callable[[Record, StagedStores], Outcome]


@dataclass(frozen=True)
class Stage:
    """A service as a runtime sees it. `name` is part of the app id (chosen once)."""

    name: str
    inputs: tuple[str, ...]
    stores: tuple[StoreName, ...]
    handle: Handler
    # Per-agency topic templates ("agency-status.{agency_id}.v1") whose every topic is an
    # input, those of agencies provisioned later included.
    input_families: tuple[str, ...] = ()

    def reads(self, topic: str) -> bool:
        return topic in self.inputs or any(family_member(f, topic) for f in self.input_families)


@dataclass
class BatchResult:
    outputs: list[Output]
    notes: list[tuple[Record, LogNote]]


def run_batch(stage: Stage, records: Sequence[Record], stores: StagedStores) -> BatchResult:
    """Run the handler over each record in order; later records see earlier ones' writes.

    A handler that raises never stops the stage: its record's writes are rolled back and
    the record goes to the dead-letter topic as `internal_error` with the error type only."""
    outputs: list[Output] = []
    notes: list[tuple[Record, LogNote]] = []
    for index, record in enumerate(records):
        stores.begin(index)
        try:
            outcome = stage.handle(record, stores)
        except Exception as exc:  # a poison record must not stop every complaint behind it
            stores.rollback()
            outcome = internal_error(stage.name, record, exc)
        outputs.extend(outcome.outputs)
        notes.extend((record, note) for note in outcome.notes)
    return BatchResult(outputs, notes)


def reject(stage_name: str, record: Record, reason: str,
           errors: Iterable[ValidationErrorItem] = ()) -> Outcome:
    """A dead letter for `record`: its original bytes, position and the reason."""
    letter = dead_letter(topic=record.topic, partition=record.partition, offset=record.offset,
                         timestamp_s=record.timestamp, key=record.key, raw=record.value,
                         reason=reason, errors=list(errors), rejected_by=stage_name)
    outcome = Outcome([Output(REJECTED, record.key, letter.to_bytes())])
    return outcome.note("rejected", level="warning", reason=letter.reason, event_id=letter.event_id)


def parse_or_reject(stage_name: str, model: type[M], record: Record,
                    reason: str) -> M | Outcome:
    """The record's value as `model`, or the dead letter that says why not."""
    try:
        return model.model_validate_json(record.value or b"")
    except ValidationError as exc:
        return reject(stage_name, record, reason, validation_items(exc))


def internal_error(stage_name: str, record: Record, exc: Exception) -> Outcome:
    error = ValidationErrorItem(loc="$", msg=type(exc).__name__)
    outcome = reject(stage_name, record, "internal_error", [error])
    outcome.notes[-1] = LogNote("internal_error", {**outcome.notes[-1].fields,
                                                   "error": type(exc).__name__}, "error")
    return outcome
