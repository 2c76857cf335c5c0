"""What keeps an internet-facing relay from being abused before it spends anything (§9).

Per-client-IP token buckets (``[gateway] claims_per_minute``, ``lookups_per_minute``), the client IP itself
(``X-Forwarded-For`` believed only from ``[gateway] trusted_proxies``), and the body limit.
"""

from __future__ import annotations

import ipaddress
import threading
import time

from posd.errors import TooLarge
from posd.gateway.errors import RateLimited

MAX_BODY = 16 * 1024  # bytes: a claim is a few hundred
MAX_CLIENTS = 100_000  # buckets kept; the fullest ones are forgotten first


class TokenBucket:
    """``rate_per_minute`` tokens a minute per key, bursts up to the same number."""

    def __init__(self, rate_per_minute: int, what: str = "claims") -> None:
        self.what = what
        self.capacity = float(rate_per_minute)
        self.refill = rate_per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: float | None = None) -> None:
        """Spend one token of ``key`` or raise RateLimited (with the wait in the message)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.refill)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.refill
                raise RateLimited(
                    f"too many {self.what} from this address: try again in {wait:.0f} s"
                )
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > MAX_CLIENTS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        full = [
            k
            for k, (t, at) in self._buckets.items()
            if t + (now - at) * self.refill >= self.capacity
        ]
        for k in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[k]


class ClientIp:
    """The client's address: the peer's, or the last untrusted hop of X-Forwarded-For when the
    peer is a trusted proxy."""

    def __init__(self, trusted: list[str]) -> None:
        self.trusted = [ipaddress.ip_network(t, strict=False) for t in trusted]

    def _is_trusted(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.trusted)

    def of(self, peer: str, forwarded_for: str | None) -> str:
        if not forwarded_for or not self._is_trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):  # the right-most hop a trusted proxy did not add
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer  # garbage in the header: count it against the proxy
        return hops[0] if hops else peer


def check_length(content_length: str | None) -> None:
    if content_length is None:
        return
    try:
        size = int(content_length)
    except ValueError:
        raise TooLarge("Content-Length is not a number") from None
    if size > MAX_BODY:
        raise TooLarge(f"body of {size} bytes is over the {MAX_BODY}-byte limit")
