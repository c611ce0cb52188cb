"""A per-client rate limit: at most ``count`` uses in any sliding window of ``window_s`` seconds.

Pure and thread-safe, with no Gradio in it: the UI asks :meth:`RateLimiter.acquire` before every request that
runs a diffusion model, keyed by :func:`client_id`. Memory stays bounded: a client whose last use left the
window is forgotten, and at most ``max_clients`` are remembered at all.
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

#: Window units accepted by :meth:`RateLimit.parse`, in seconds.
UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
}
_RATE = re.compile(r"(?P<count>\d+)\s*/\s*(?P<amount>\d+(?:\.\d+)?)?\s*(?P<unit>[a-z]*)")
#: Clients remembered at most; past it the least recently admitted one is forgotten (and gets its uses back early).
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class RateLimit:
    """``count`` uses per ``window_s`` seconds."""

    count: int
    window_s: float

    def __post_init__(self) -> None:
        if self.count < 1 or not self.window_s > 0:
            raise ValueError(
                f"a count of at least 1 and a window above 0 s are needed; got {self.count}/{self.window_s}s"
            )

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """``"10/hour"``, ``"5/10min"``, ``"3/30s"``, ``"100/day"`` (a bare number after the slash is seconds)."""
        match = _RATE.fullmatch(text.strip().lower())
        unit = match and UNITS.get(match["unit"] or "s")
        if not match or unit is None or not (match["amount"] or match["unit"]):
            raise ValueError(
                f"expected uses/window such as 10/hour, 5/10min, 3/30s or 100/day (units: s, min, hour, day); "
                f"got {text!r}"
            )
        return cls(int(match["count"]), float(match["amount"] or 1) * unit)


class RateLimiter:
    """A sliding-window log per client: each admitted use is remembered for one window, refusals are not counted.

    ``clock`` must not go backwards (``time.monotonic`` by default; tests pass a fake one).
    """

    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.limit = limit
        self._clock = clock
        self._max_clients = max_clients
        # Client -> times of its uses inside the window, ordered by each client's latest use (oldest first).
        self._uses: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, client: str) -> float:
        """Count one use for ``client`` and return 0.0, or count nothing and return the seconds until it may."""
        with self._lock:
            now = self._clock()
            expired = now - self.limit.window_s
            self._forget_idle(expired)
            uses = self._uses.get(client)
            if uses is None:
                uses = self._uses[client] = deque()
            while uses and uses[0] <= expired:
                uses.popleft()
            if len(uses) >= self.limit.count:
                return uses[0] - expired
            uses.append(now)
            self._uses.move_to_end(client)
            if len(self._uses) > self._max_clients:
                self._uses.popitem(last=False)
            return 0.0

    def clients(self) -> int:
        """How many clients are remembered (each with a use inside the window)."""
        with self._lock:
            return len(self._uses)

    def _forget_idle(self, expired: float) -> None:
        """Drop clients whose latest use has left the window: they are first in the order, so this is O(1) each."""
        while self._uses:
            uses = next(iter(self._uses.values()))
            if uses and uses[-1] > expired:
                return
            self._uses.popitem(last=False)


def client_id(username: str | None, host: str | None, forwarded_for: str | None, *, trust_forwarded_for: bool) -> str:
    """Who is asking: the logged-in user if any, else the client's IP address.

    A server behind a reverse proxy (a Hugging Face Space) sees the proxy's internal address as the peer for
    every request; the client's own address arrives in the ``X-Forwarded-For`` header. That header is only
    trusted when told to (on Spaces by default): without a proxy in front, any client can send the header with
    a made-up address, escape its own limit, or use up somebody else's. Even behind a proxy only the right end
    of the header is the proxies' word (see :func:`forwarded_client`).
    """
    if username:
        return f"user:{username}"
    forwarded = forwarded_client(forwarded_for or "") if trust_forwarded_for else None
    address = forwarded or host
    return f"ip:{address}" if address else "unknown"


def forwarded_client(header: str) -> str | None:
    """The client address in an ``X-Forwarded-For`` value (``client, proxy1, proxy2``), or ``None``.

    Each proxy appends the address it received the request from, so entries to the left of the one the first
    (public-facing) proxy appended may come from the client itself. That one is the right-most public address
    (the hops behind it are internal); without any public address, the right-most valid one.
    """
    addresses = []
    for entry in header.split(","):
        try:
            addresses.append(ipaddress.ip_address(entry.strip()))
        except ValueError:
            continue
    public = [address for address in addresses if address.is_global]
    chosen = public[-1] if public else addresses[-1] if addresses else None
    return None if chosen is None else str(chosen)
