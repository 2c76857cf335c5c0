"""Config sections of the features built on the till core (DESIGN §9–§12).

Each section is a dataclass with a default for every key (a file holds only what differs) and a
validator beside it that names the file, the section, the key and what was expected. The core
sections (store, till, receipt, chain, api) live in :mod:`posd.config.settings`, which registers
these.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

Bad = Callable[[str, str, str, Any], Exception]  # (section, key, expected, got) -> error


@dataclass
class DsgConfig:
    """Paying with DSG at the till (DESIGN §10)."""

    payout_address: str = ""  # the store's receiving address, shared by its tills
    till_slot: int = 0  # 0..999, distinct per till of a store
    rate: int = 0  # DSG wei per minor unit; 0: use price_feed
    price_feed: str = ""  # an AggregatorV3-style feed (DSG price in the store currency)
    price_max_age_s: int = 3600  # an older price makes the tender unavailable
    discount_percent: float = 0.0  # the better price for paying in DSG
    payment_timeout_s: int = 900
    poll_interval_s: float = 1.0  # how often the watcher asks the node for new blocks
    max_log_range: int = 2000  # blocks per eth_getLogs request
    print_stub: bool = False  # print a payment stub with the QR (tills without a second screen)


@dataclass
class MembershipConfig:
    """Membership tiers from staking (DESIGN §11)."""

    discounts: list[float] = field(default_factory=lambda: [0.0, 2.0, 5.0, 10.0])
    tier_cache_s: int = 600  # a tier read from chain is trusted this long
    offline_max_age_s: int = 86_400  # offline, the last known tier up to this old


@dataclass
class PosLinkConfig:
    """The listener for the shop's own POS machine (DESIGN §7, §12); off when listen is empty."""

    listen: str = ""  # "IP:PORT"
    token: str = ""  # its own bearer token (generated when empty and listen is set)
    allow: list[str] = field(default_factory=list)  # client IPs or networks allowed


@dataclass
class GatewayConfig:
    """The shopper-facing claim gateway (DESIGN §9); `posd gateway` reads it."""

    listen: str = "127.0.0.1:8720"
    rpc_url: str = ""
    mining_address: str = ""
    staking_address: str = ""
    keystore: str = ""  # the relayer's eth-account keystore (or --private-key on dev chains)
    passphrase_file: str = ""
    passphrase_env: str = ""
    state_dir: str = ""  # where gateway.db lives; empty: the state dir (--state-dir)
    page_dir: str = ""  # the built claim page; empty: the repo's claim/dist
    trusted_proxies: list[str] = field(default_factory=list)  # may set X-Forwarded-For
    cors_origins: list[str] = field(default_factory=list)  # empty: same origin only
    stores: list[str] = field(default_factory=list)  # store names allowed; empty: all
    min_amount: int = 0  # receipts below this (minor units) are not relayed
    claims_per_minute: int = 10  # per client IP
    lookups_per_minute: int = 300  # GET /api/receipts per client IP (the page polls every 2-10 s)
    request_timeout_s: float = 10.0  # a request head, or a claim's body, must arrive within it
    gas_budget_wei: int = 10**17  # per store per UTC day
    min_balance_wei: int = 10**16  # below it: 503 relay_unavailable
    confirmations: int = 1  # blocks a claim (and an indexed event) needs before it counts
    max_fee_gwei: float = 200.0
    poll_interval_s: float = 0.5  # index new events, confirm and bump this often
    bump_after_s: float = 15.0  # a claim not mined after this gets a fee bump (+12.5 %)
    log_range: int = 2000  # blocks per eth_getLogs request of the event index
    from_block: int = -1  # where the index starts; -1: the mining contract's deployment block


SECTIONS: dict[str, type] = {
    "dsg": DsgConfig,
    "membership": MembershipConfig,
    "pos_link": PosLinkConfig,
    "gateway": GatewayConfig,
}


def _listen(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host == "localhost"
    return True


def _network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


Range = tuple[str, float, float, str]  # key, lowest, highest, what a store owner should write
_DSG_RANGES: list[Range] = [
    ("payment_timeout_s", 30, 86_400, "30..86400"),
    ("price_max_age_s", 1, 86_400 * 7, "1..604800"),
    ("max_log_range", 1, 100_000, "1..100000"),
    ("poll_interval_s", 0.05, 3600, "0.05..3600 seconds"),
]
_MEMBERSHIP_RANGES: list[Range] = [
    ("tier_cache_s", 0, 600, "0..600 seconds (at most 10 minutes (DESIGN §11))"),
    ("offline_max_age_s", 0, 86_400 * 30, "0..2592000 seconds (at most 30 days)"),
]
_GATEWAY_RANGES: list[Range] = [
    ("confirmations", 1, 1000, "1..1000 blocks"),
    ("claims_per_minute", 1, 100_000, "1..100000"),
    ("lookups_per_minute", 1, 1_000_000, "1..1000000"),
    ("request_timeout_s", 0.1, 300, "0.1..300 seconds"),
]
_GATEWAY_TIMING_RANGES: list[Range] = [
    ("poll_interval_s", 0.05, 60, "0.05..60 seconds"),
    ("bump_after_s", 1, 3600, "1..3600 seconds"),
    ("log_range", 1, 100_000, "1..100000 blocks"),
]


def check_ranges(bad: Bad, section: str, obj: Any, rows: Iterable[Range]) -> None:
    """Raise for the first row whose key lies outside lo..hi (NaN fails: it compares false)."""
    for key, lo, hi, expected in rows:
        value = getattr(obj, key)
        if not lo <= value <= hi:
            raise bad(section, key, expected, value)


def validate(cfg: Any, bad: Bad, address_problem: Callable[[str], str]) -> None:
    """Check the feature sections of ``cfg``; ``bad`` builds the error that names the key."""
    dsg: DsgConfig = cfg.dsg
    for key in ("payout_address", "price_feed"):
        problem = address_problem(getattr(dsg, key))
        if problem:
            raise bad("dsg", key, problem, getattr(dsg, key))
    check_ranges(bad, "dsg", dsg, [("till_slot", 0, 999, "0..999 (distinct per till of a store)")])
    if dsg.rate < 0:
        raise bad("dsg", "rate", "0 or more DSG wei per minor unit", dsg.rate)
    if not 0 <= dsg.discount_percent < 100:
        raise bad("dsg", "discount_percent", "0 up to (not including) 100", dsg.discount_percent)
    check_ranges(bad, "dsg", dsg, _DSG_RANGES)

    member: MembershipConfig = cfg.membership
    if not member.discounts or not all(
        isinstance(d, int | float) and not isinstance(d, bool) and 0 <= d < 100
        for d in member.discounts
    ):
        raise bad("membership", "discounts", "a list of percents 0..<100 by tier", member.discounts)
    check_ranges(bad, "membership", member, _MEMBERSHIP_RANGES)

    link: PosLinkConfig = cfg.pos_link
    if link.listen and not _listen(link.listen):
        raise bad("pos_link", "listen", '"IP:PORT" (e.g. "192.168.1.20:8711")', link.listen)
    for item in link.allow:
        if not isinstance(item, str) or not _network(item):
            raise bad("pos_link", "allow", "IP addresses or networks like 192.168.1.0/24", item)
    if link.token and (len(link.token) < 16 or not link.token.isprintable() or " " in link.token):
        raise bad(
            "pos_link", "token", "empty (generated) or 16+ printable characters", "<redacted>"
        )

    gw: GatewayConfig = cfg.gateway
    if not _listen(gw.listen):
        raise bad("gateway", "listen", '"HOST:PORT" (e.g. "127.0.0.1:8720")', gw.listen)
    for key in ("mining_address", "staking_address"):
        problem = address_problem(getattr(gw, key))
        if problem:
            raise bad("gateway", key, problem, getattr(gw, key))
    for item in gw.trusted_proxies:
        if not isinstance(item, str) or not _network(item):
            raise bad("gateway", "trusted_proxies", "IP addresses or networks", item)
    for key in ("cors_origins", "stores"):
        if not all(isinstance(v, str) and v for v in getattr(gw, key)):
            raise bad("gateway", key, "a list of non-empty strings", getattr(gw, key))
    for key in ("min_amount", "gas_budget_wei", "min_balance_wei"):
        if getattr(gw, key) < 0:
            raise bad("gateway", key, "0 or more", getattr(gw, key))
    check_ranges(bad, "gateway", gw, _GATEWAY_RANGES)
    if not 0 < gw.max_fee_gwei <= 1_000_000:  # open below, so not a row; checked in this order
        raise bad("gateway", "max_fee_gwei", "a positive number of gwei", gw.max_fee_gwei)
    check_ranges(bad, "gateway", gw, _GATEWAY_TIMING_RANGES)
    if gw.from_block < -1:
        raise bad(
            "gateway", "from_block", "-1 (the deployment block) or a block number", gw.from_block
        )
    if gw.rpc_url and not gw.rpc_url.startswith(("http://", "https://")):
        raise bad("gateway", "rpc_url", "an http:// or https:// URL of the node", gw.rpc_url)
