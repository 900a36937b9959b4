"""What a long-running part of a worker reports while it cannot make progress (a lane whose
output cannot be sent, a poller whose agency does not answer): `/health/` and the metrics
show it, so a stuck part is seen instead of silently doing nothing. Part names come from
configuration (agency ids), never from input, so the set stays bounded."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Health:
    failing: dict[str, str] = field(default_factory=dict)  # part -> the error it last hit

    def failed(self, part: str, error: BaseException) -> bool:
        """Record that `part` failed; True if it was working until now (log it then)."""
        first = part not in self.failing
        self.failing[part] = type(error).__name__
        return first

    def recovered(self, part: str) -> bool:
        """Record that `part` works again; True if it had been failing."""
        return self.failing.pop(part, None) is not None

    def ok(self) -> bool:
        return not self.failing
