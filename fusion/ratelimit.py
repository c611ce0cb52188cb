"""Who is asking, and how often: a per-client limit on uses in a sliding window, and client identity.

No Gradio in here. The counting is the ``limits`` library's moving window over its in-memory storage (a client's
log of uses expires with the window, so memory stays bounded by the clients active in it); this module only
parses the setting, turns a refusal into the seconds to wait, and decides who a request comes from.
"""

from __future__ import annotations

import ipaddress
import time

import limits
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

RateLimit = limits.RateLimitItem


def parse_rate(text: str) -> RateLimit:
    """``"10/hour"``, ``"5/10 minutes"``, ``"100 per day"``: the ``limits`` notation, one rate."""
    try:
        return limits.parse(text)
    except ValueError:
        raise ValueError(
            f"expected uses/window such as 10/hour, 5/10 minutes or 100/day (units: second, minute, hour, day); "
            f"got {text!r}"
        ) from None


def window_seconds(limit: RateLimit) -> int:
    """The length of a limit's window in seconds."""
    return limit.get_expiry()


class RateLimiter:
    """At most ``limit.amount`` uses per client in any sliding window; refused attempts are not counted."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    def acquire(self, client: str) -> float:
        """Count one use for ``client`` and return 0.0, or count nothing and return the seconds until it may."""
        if self._limiter.hit(self.limit, client):
            return 0.0
        reset_at = self._limiter.get_window_stats(self.limit, client).reset_time
        return max(reset_at - time.time(), 0.001)


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
