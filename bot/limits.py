"""Rate limits of the resident gateway: per client address, per web session, per phone number.

A fixed window per key (count, window start), in this process's memory, bounded in size. Why not Redis:
one gateway process serves a city this size; with several replicas each keeps its own counts, so the
effective limit is the limit times the replicas (docs/privacy.md lists it among the known gaps).

Limits are settings (`RATE_LIMIT_*`, "COUNT/SECONDS"; 0/0 turns one off):

- `RATE_LIMIT_ADDRESS`: requests to /chat and /chat/contact per client address, and failed /sms
  signatures per address (someone probing the webhook). Never applied to a correctly signed /sms:
  every resident's text arrives from Twilio's few addresses.
- `RATE_LIMIT_NEW_SESSIONS`: web conversations a client address may start (each one is kept).
- `RATE_LIMIT_SESSION`: messages per web conversation.
- `RATE_LIMIT_NUMBER`: texts per phone number. Over it, Twilio still gets 200 and TwiML (a 429 would
  make Twilio retry a real message): one "slow down" text per window, then nothing.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str, name: str) -> "Limit":
        try:
            count, seconds = (part.strip() for part in text.split("/", 1))
            limit = cls(int(count), float(seconds))
        except ValueError as exc:
            raise ValueError(f"{name} must look like COUNT/SECONDS (e.g. 30/60), not {text!r}") from exc
        if limit.count < 0 or limit.seconds < 0:
            raise ValueError(f"{name} must not be negative: {text!r}")
        return limit

    @property
    def off(self) -> bool:
        return self.count == 0 or self.seconds == 0


class Limiter:
    """Counts hits per key in fixed windows; `hit` says whether this one is still allowed."""

    def __init__(self, limit: Limit, max_keys: int = 100_000, clock=time.monotonic):
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._windows: OrderedDict[str, list[float]] = OrderedDict()  # key -> [window start, count]

    def hit(self, key: str) -> bool:
        if self.limit.off:
            return True
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now - window[0] >= self.limit.seconds:
            window = [now, 0]
            self._windows[key] = window
        self._windows.move_to_end(key)
        while len(self._windows) > self.max_keys:
            self._windows.popitem(last=False)
        window[1] += 1
        return window[1] <= self.limit.count

    def first_over(self, key: str) -> bool:
        """True for the first refused hit of a window (the one that gets the 'slow down' text)."""
        window = self._windows.get(key)
        return bool(window and window[1] == self.limit.count + 1)

    def retry_after(self, key: str) -> int:
        window = self._windows.get(key)
        if window is None:
            return 0
        return max(1, int(self.limit.seconds - (self.clock() - window[0]) + 0.999))
