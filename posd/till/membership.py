"""Membership at the till (DESIGN §11): the pass, the member's tier, the discount on the sale.

A pass comes from ``POST /api/sale/member`` or a scan starting with ``dsgm1:``. The till checks it
offline (:mod:`posd.proof.memberpass`), refuses one used before here (409 ``pass_used``, until it
expires), then needs the member's tier: ``tierOf(member)`` on the staking contract, trusted for
``[membership] tier_cache_s``; when the chain cannot be read, the last tier known up to
``offline_max_age_s`` old, else tier 0 with a message for the cashier. Tiers are kept in SQLite,
so a restarted till still knows its members while offline.

The discount is percent per line, rounded half-up to the minor unit (DESIGN §7), taken off each
line's total, so the tax per rate and the proof's amount follow the discounted lines. It comes
first: the DSG discount is computed on what is left. Never log a pass: its signature stays here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from posd.chain.rpc import LinkDown, Rpc, RpcError
from posd.chain.staking import NoStakingContract, StakingReader
from posd.db.members import SALE_EVENT, Members
from posd.db.store import Store
from posd.errors import Conflict, PosdError, Unavailable
from posd.proof import memberpass
from posd.proof.memberpass import MemberPass, is_pass

log = logging.getLogger("posd.till.membership")
RPC_TIMEOUT_S = 2.0  # the cashier waits for this read: keep it short, the cache covers the rest
__all__ = ["Membership", "MemberState", "is_pass", "percent_for", "line_discount"]


class PassUsed(Conflict):
    code = "pass_used"


class MembershipUnavailable(Unavailable):
    code = "membership_unavailable"


class _Line(Protocol):
    total: int
    member_discount: int


class _ChainConfig(Protocol):
    rpc_url: str
    staking_address: str


class _MembershipConfig(Protocol):
    discounts: list[float]
    tier_cache_s: int
    offline_max_age_s: int


# -- the discount ---------------------------------------------------------------------------------
def percent_for(discounts: list[float], tier: int) -> Decimal:
    """The store's discount for ``tier``; a tier past the list's end gets its last entry."""
    if not discounts or tier < 0:
        return Decimal(0)
    return Decimal(str(discounts[min(tier, len(discounts) - 1)]))


def line_discount(gross: int, percent: Decimal) -> int:
    """``percent`` of a line's total, half-up to the minor unit."""
    return int((Decimal(gross) * percent / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def discount_line(line: _Line, percent: Decimal) -> None:
    """Set ``line``'s member discount to ``percent`` of its undiscounted total."""
    gross = line.total + line.member_discount
    line.member_discount = line_discount(gross, percent)
    line.total = gross - line.member_discount


@dataclass(frozen=True)
class MemberState:
    """The member of the open sale: who, the tier, where the tier came from."""

    address: str
    tier: int
    discount_percent: Decimal
    source: str  # chain | cache | offline
    message: str
    pass_id: str  # hash of the pass (the used-pass list's key), never the pass itself
    valid_until: int

    def to_json(self, lines: list[Any]) -> dict[str, Any]:
        pct = self.discount_percent
        return {
            "address": self.address,
            "tier": self.tier,
            "discount_percent": int(pct) if pct == pct.to_integral_value() else float(pct),
            "discount": sum(line.member_discount for line in lines),
            "source": self.source,
            "message": self.message,
            "valid_until": self.valid_until,
        }

    def sale_event(self, lines: list[Any]) -> tuple[str, dict[str, Any]]:
        """What the completed sale keeps (the receipt prints it): written with the sale."""
        data = self.to_json(lines)
        data.pop("valid_until")
        data["member"] = data.pop("address")
        data["lines"] = [line.member_discount for line in lines]
        return SALE_EVENT, data


def apply(sale: Any, state: MemberState | None) -> None:
    """Make ``state`` the member of the open ``sale`` and discount its lines (None: no member)."""
    percent = state.discount_percent if state is not None else Decimal(0)
    for line in sale.lines:
        discount_line(line, percent)
    sale.member = state


def sale_events(sale: Any) -> list[tuple[str, dict[str, Any]]]:
    return [sale.member.sale_event(sale.lines)] if sale.member is not None else []


def take_pass(register: Any, text: str, device: str) -> None:
    """The register's member path: a pass posted (``device`` "api": errors raise, for the API to
    answer) or scanned (errors become a ``member_refused`` event: a scanner has no one to tell).
    The pass comes before payment, like a scan (409 ``payment_started``)."""
    try:
        if register.members is None:
            raise MembershipUnavailable("this till takes no membership passes")
        with register.lock:
            _editable(register.sale)
            current = register.sale.member.pass_id if register.sale.member else None
        state = register.members.read(text, current)  # may read the chain: not under the lock
        with register.lock:  # one step: still editable → mark the pass used → apply it
            _editable(register.sale)
            current = register.sale.member.pass_id if register.sale.member else None
            register.members.mark_used(state, current)
            apply(register.sale, state)
            sale = register.sale.to_json()
        register.bus.publish("member", {"member": sale["member"], "sale": sale})
    except PosdError as exc:
        register.bus.publish(
            "member_refused", {"code": exc.code, "message": exc.message, "device": device}
        )
        if device == "api":
            raise
        log.info("membership pass from %s refused: %s", device, exc.message)


def _editable(sale: Any) -> None:
    """The cart lock of posd.till.sale (409 ``payment_pending`` / ``payment_started``)."""
    sale.check_unlocked(
        "a membership pass comes before payment (or cancel the sale)",
        ": wait for it, or cancel it first",
    )


# -- the tier, and the pass ---------------------------------------------------------------------
class Membership:
    """Checks passes and finds tiers for one till (built by the composition root)."""

    def __init__(
        self,
        store: Store,
        config: _MembershipConfig,
        chain: _ChainConfig,
        chain_id: Callable[[], int | None],
        clock: Callable[[], float] = time.time,
        rpc_timeout: float = RPC_TIMEOUT_S,
    ) -> None:
        self.members = Members(store)
        self.config = config
        self.chain = chain  # read at each pass: --simulate fills the address in at start
        self.chain_id = chain_id
        self.clock = clock
        self.rpc_timeout = rpc_timeout
        self._rpc: Rpc | None = None
        self._lock = threading.Lock()

    def staking(self) -> tuple[int, str]:
        """(chain id, staking address) of this till, or 503 ``membership_unavailable``."""
        staking = self.chain.staking_address
        if not staking:
            raise MembershipUnavailable(
                "membership passes need [chain] staking_address (the staking contract)"
            )
        chain_id = self.chain_id()
        if not chain_id:
            raise MembershipUnavailable(
                "this till does not know its chain id yet: connect it to the chain once"
            )
        return chain_id, staking

    def check(self, text: str) -> MemberPass:
        """Decode and verify a pass (400 ``bad_pass`` / ``pass_expired`` / ``wrong_chain``)."""
        chain_id, staking = self.staking()
        return memberpass.check(text, chain_id, staking, self.clock())

    def accept(self, text: str, current: str | None = None) -> MemberState:
        """Check a pass, find the tier, then mark the pass used (:meth:`read` +
        :meth:`mark_used`). ``current``: the pass id the open sale already carries (showing the
        same pass again is no reuse)."""
        state = self.read(text, current)
        self.mark_used(state, current)
        return state

    def mark_used(self, state: MemberState, current: str | None = None) -> None:
        """Record the pass as used — the last step, in the same step that applies it, so a
        pass is burnt only by a sale that took it; 409 ``pass_used`` when another got there
        first (one SQLite transaction: of two concurrent uses, one wins)."""
        if state.pass_id != current and not self.members.use_pass(
            state.pass_id, state.address, state.valid_until, self.clock()
        ):
            raise _used(state.address)

    def read(self, text: str, current: str | None = None) -> MemberState:
        """Check a pass and find the tier; marks nothing (a pass already used: 409)."""
        member_pass = self.check(text)
        pass_id = member_pass.pass_id
        if pass_id != current and self.members.pass_used(pass_id, self.clock()):
            raise _used(member_pass.member)  # before any chain read
        tier, source, message = self.tier(member_pass.member)
        log.info("member %s: tier %d (%s)", member_pass.member, tier, source)
        return MemberState(
            address=member_pass.member,
            tier=tier,
            discount_percent=percent_for(self.config.discounts, tier),
            source=source,
            message=message,
            pass_id=pass_id,
            valid_until=member_pass.valid_until,
        )

    def tier(self, member: str) -> tuple[int, str, str]:
        """``(tier, source, message)``: source ``chain`` (read now), ``cache`` (read less than
        ``tier_cache_s`` ago) or ``offline`` (the chain cannot be read)."""
        staking = self.chain.staking_address
        now = self.clock()
        cached = self.members.cached_tier(staking, member)
        if cached is not None and 0 <= now - cached.read_at <= self.config.tier_cache_s:
            return cached.tier, "cache", ""
        try:
            tier = self._reader().tier_of(member)
        except NoStakingContract:  # a wrong address is the config's problem, not "offline"
            log.error("membership: no staking contract at [chain] staking_address %s", staking)
            raise MembershipUnavailable(
                f"[chain] staking_address {staking} holds no staking contract on the chain at "
                "[chain] rpc_url: check the address (membership needs the DSG staking contract)"
            ) from None
        except (LinkDown, RpcError, ValueError) as exc:
            return self._offline(cached, now, exc)
        self.members.remember_tier(staking, member, tier, now)
        return tier, "chain", ""

    def _offline(self, cached: Any, now: float, exc: Exception) -> tuple[int, str, str]:
        log.warning("membership: cannot read the tier from the chain: %s", exc)
        if cached is not None and now - cached.read_at <= self.config.offline_max_age_s:
            age = _age(now - cached.read_at)
            return cached.tier, "offline", f"chain unreachable: tier as read {age} ago"
        return (
            0,
            "offline",
            "chain unreachable and no tier known from the last "
            f"{_age(self.config.offline_max_age_s)}: no member discount",
        )

    def _reader(self) -> StakingReader:
        with self._lock:
            url = self.chain.rpc_url
            if not url:
                raise LinkDown("no [chain] rpc_url")
            if self._rpc is None or self._rpc.url != url:
                self._rpc = Rpc(url, timeout=self.rpc_timeout)
            return StakingReader(self._rpc, self.chain.staking_address)


def _used(member: str) -> PassUsed:
    return PassUsed(
        f"this pass of {member} was used before at this till; the member shows a fresh one"
    )


def _age(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
