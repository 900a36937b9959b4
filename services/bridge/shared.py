"""What every bridge worker keeps whole, read from the bridge's own topics from their start
and followed after: the Open311 requests filed (so a worker that takes over an agency's lane
after a rebalance or a restart finds the intent another wrote, and looks before it files),
the status calls accepted (the replay cache holds across workers and restarts), and the
operators' skips and enables. Pure: the runtime's follower feeds it records.

A worker also changes it at once for what it writes itself (its intent must be known before
its POST); the follower brings the same records back later. An intent read back after the
filed state it led to is passed over (a repeat of the complaint in between would look it up
on the server again); other records read back are the same as what is kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas.bridge import BridgeCommand, BridgeSeenCall, Open311Request
from services.bridge.inbound import SeenSignatures
from services.bridge.open311 import state_key
from services.runtime.topic_read import TopicRecord
from services.runtime.topics import BRIDGE_CONTROL, BRIDGE_SEEN_CALLS, OPEN311_REQUESTS

FOLLOWED = (OPEN311_REQUESTS, BRIDGE_SEEN_CALLS, BRIDGE_CONTROL)


@dataclass
class SharedMemory:
    open311_agencies: frozenset[str] = frozenset()
    seen: SeenSignatures = field(default_factory=lambda: SeenSignatures(300.0))
    states: dict[str, Open311Request] = field(default_factory=dict)  # by state_key
    skips: set[str] = field(default_factory=set)  # state_key of complaints an operator skipped
    enables: dict[str, int] = field(default_factory=dict)  # agency -> offset of its last enable
    changed: Callable[[str], None] = lambda agency_id: None  # a command for this agency came
    unreadable: int = 0  # records of these topics that are not what they should be (counted)
    clock: Callable[[], float] = time.time

    def apply(self, record: TopicRecord) -> None:
        """One followed record; never raises (an unreadable one is counted and passed over)."""
        try:
            self._apply(record)
        except (ValidationError, UnicodeDecodeError, ValueError):
            self.unreadable += 1

    def _apply(self, record: TopicRecord) -> None:
        if record.key is None:
            raise ValueError("no key")
        key = record.key.decode()
        if record.topic == OPEN311_REQUESTS:
            if record.value is None:
                self.states.pop(key, None)
                return
            state = Open311Request.model_validate_json(record.value)
            if state.agency_id in self.open311_agencies and not _older_intent(state, self.states.get(key)):
                self.states[key] = state
        elif record.topic == BRIDGE_SEEN_CALLS and record.value is not None:
            call = BridgeSeenCall.model_validate_json(record.value)
            self.seen.remember(key, call.seen_at.timestamp(), self.clock())
        elif record.topic == BRIDGE_CONTROL:
            self._command(key, record)

    def _command(self, key: str, record: TopicRecord) -> None:
        if record.value is None:  # a skip taken back
            self.skips.discard(key)
            self.changed(key.split("|")[0])
            return
        command = BridgeCommand.model_validate_json(record.value)
        if command.action == "skip" and command.complaint_id is not None:
            self.skips.add(state_key(command.agency_id, command.complaint_id))
        elif command.action == "enable":
            self.enables[command.agency_id] = max(record.offset, self.enables.get(command.agency_id, -1))
        self.changed(command.agency_id)

    def skipped(self, agency_id: str, complaint_id: str) -> bool:
        return state_key(agency_id, complaint_id) in self.skips

    def enable_mark(self, agency_id: str) -> int:
        """Where the agency's enables stand: a hold lasts until this moves on."""
        return self.enables.get(agency_id, -1)


def _older_intent(incoming: Open311Request, kept: Open311Request | None) -> bool:
    """An intent from before the filed state kept (this worker's own, read back late)."""
    return (incoming.posting and kept is not None and not kept.posting
            and incoming.filed_at <= kept.filed_at)
