"""The DSG price at the till: a fixed ``[dsg] rate`` or an AggregatorV3-style feed (§10).

A rate is DSG wei per minor unit of the store's currency, as a fraction ``num / den`` (a feed's
price rarely divides 10^18 evenly). A feed's answer is the price of one DSG in the store's
currency with ``decimals()`` digits; one older than ``[dsg] price_max_age_s`` (or not positive)
makes the tender unavailable rather than selling at a stale price.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

from posd.chain.rpc import LinkDown, Rpc, RpcError
from posd.errors import Conflict

SEL_LATEST = keccak(b"latestRoundData()")[:4]
SEL_DECIMALS = keccak(b"decimals()")[:4]


class DsgUnavailable(Conflict):
    """The DSG tender cannot be offered now (no payout address, no chain link, no fresh price)."""

    code = "dsg_unavailable"


@dataclass(frozen=True)
class Rate:
    num: int  # DSG wei per minor unit = num / den
    den: int = 1
    source: str = "rate"
    updated_at: int | None = None

    def text(self) -> str:
        return str(self.num) if self.den == 1 else f"{self.num}/{self.den}"


def read_feed(rpc: Rpc, feed: str, minor_digits: int) -> Rate:
    """``latestRoundData`` and ``decimals`` of ``feed`` as a rate in wei per minor unit."""
    to = to_checksum_address(feed)
    calls = [
        ("eth_call", ({"to": to, "data": "0x" + SEL_LATEST.hex()}, "latest")),
        ("eth_call", ({"to": to, "data": "0x" + SEL_DECIMALS.hex()}, "latest")),
    ]
    latest, decimals = rpc.batch(calls)
    for answer in (latest, decimals):
        if isinstance(answer, RpcError):
            raise DsgUnavailable(f"price feed {to}: {answer.message}")
    try:
        _round, price, _started, updated, _answered = abi_decode(
            ["uint80", "int256", "uint256", "uint256", "uint80"], bytes.fromhex(latest[2:])
        )
        (digits,) = abi_decode(["uint8"], bytes.fromhex(decimals[2:]))
    except Exception:  # noqa: BLE001 - not a feed at that address
        raise DsgUnavailable(f"price feed {to} does not answer like an AggregatorV3") from None
    if price <= 0:
        raise DsgUnavailable(f"price feed {to} answers a price of {price}")
    # wei per minor unit = 10^18 / (price / 10^digits × 10^minor_digits)
    return Rate(10 ** (18 + int(digits)), int(price) * 10**minor_digits, "feed", int(updated))


class PriceSource:
    """Where the till's DSG price comes from: ``rate`` when set, else ``feed`` read each time."""

    def __init__(
        self,
        rate: int,
        feed: str,
        max_age_s: int,
        minor_digits: int,
        rpc: Rpc | None,
        clock=time.time,
    ) -> None:
        self.rate, self.feed, self.max_age_s = rate, feed, max_age_s
        self.minor_digits, self.rpc, self.clock = minor_digits, rpc, clock

    def current(self) -> Rate:
        if self.rate > 0:
            return Rate(self.rate)
        if not self.feed:
            raise DsgUnavailable("no DSG price: set [dsg] rate or [dsg] price_feed")
        if self.rpc is None:
            raise DsgUnavailable("no chain link ([chain] rpc_url) to read the price feed")
        try:
            rate = read_feed(self.rpc, self.feed, self.minor_digits)
        except LinkDown as exc:
            raise DsgUnavailable(f"price feed unreachable: {exc}") from None
        age = int(self.clock()) - (rate.updated_at or 0)
        if age > self.max_age_s:
            raise DsgUnavailable(
                f"the price feed's last price is {age} s old (limit [dsg] price_max_age_s = "
                f"{self.max_age_s})"
            )
        return rate
