"""A token bucket: at most `rate_per_s` a second, `burst` at once after a quiet spell. Pure
(time comes in as numbers): the bridge's budget per agency, the tracking page's per client."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """Requests a second to one agency, with a burst: `wait` says how long until a request
    may go, and takes its token when it returns 0."""

    rate_per_s: float
    burst: int
    tokens: float = -1.0
    at: float = 0.0

    def wait(self, now: float) -> float:
        if self.tokens < 0:  # the first request: a full bucket
            self.tokens, self.at = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate_per_s)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate_per_s
