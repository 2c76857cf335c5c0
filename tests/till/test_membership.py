"""The member's tier (chain, cache, offline, too old) on a real SQLite file, the used-pass list,
and the discount math (half-up per line, tax per rate after it, a tier past the list's end).

The node is a loopback JSON-RPC server answering ``tierOf`` (real HTTP, the till's real client);
"offline" is a port nobody listens on. The staking contract against anvil: test_membership_anvil.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest
from helpers.http_stub import serve_post

from posd.chain.devchain import free_port
from posd.chain.staking import SEL_TIER_OF
from posd.config.features import MembershipConfig
from posd.db.store import Store
from posd.errors import Conflict
from posd.proof.memberpass import MemberPass, PassExpired
from posd.receipt.layout import ReceiptLine, tax_breakdown
from posd.till import membership
from posd.till.catalog import Product
from posd.till.membership import Membership, MembershipUnavailable, line_discount, percent_for
from posd.till.sale import Sale

STAKING = "0x5a5A5a5a5A5a5a5a5a5A5a5A5A5a5a5A5A5A5A5A"
CHAIN_ID = 31337
KEY = b"\x22" * 32
T0 = 1_800_000_000.0


@dataclass
class Node:
    """A JSON-RPC node that knows one thing: ``tierOf`` answers ``tier``; it counts the reads."""

    tier: int = 2
    reads: list[str] = field(default_factory=list)

    def answer(self, body: bytes) -> tuple[int, bytes]:
        req = json.loads(body)
        call = req["params"][0]
        assert req["method"] == "eth_call" and call["to"].lower() == STAKING.lower()
        assert call["data"].startswith("0x" + SEL_TIER_OF.hex())
        self.reads.append(call["data"][-40:])
        result = "0x" + self.tier.to_bytes(32, "big").hex()
        return 200, json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": result}).encode()


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class ChainCfg:
    rpc_url: str
    staking_address: str = STAKING


def _dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused


def _service(path: Path, url: str, clock: Clock, **cfg: object) -> Membership:
    return Membership(
        Store(path), MembershipConfig(**cfg), ChainCfg(url), lambda: CHAIN_ID, clock, 1.0
    )


def _pass(valid_until: float = T0 + 300, key: bytes = KEY) -> str:
    return MemberPass.sign(key, CHAIN_ID, STAKING, int(valid_until)).text()


def test_tier_from_chain_then_cache_then_chain_again(tmp_path: Path) -> None:
    node, clock = Node(tier=2), Clock()
    with serve_post(node.answer) as url:
        svc = _service(tmp_path / "till.db", url, clock)
        member = MemberPass.decode(_pass()).member
        assert svc.tier(member) == (2, "chain", "")
        node.tier = 3
        clock.now += 599
        assert svc.tier(member) == (2, "cache", "")  # within tier_cache_s: no read
        assert len(node.reads) == 1
        clock.now += 2  # 601 s after the read: stale, read again
        assert svc.tier(member) == (3, "chain", "")
        assert len(node.reads) == 2


def test_offline_uses_the_last_known_tier_up_to_24h(tmp_path: Path) -> None:
    node, clock = Node(tier=3), Clock()
    member = MemberPass.decode(_pass()).member
    with serve_post(node.answer) as url:
        assert _service(tmp_path / "till.db", url, clock).tier(member)[0] == 3
    svc = _service(tmp_path / "till.db", _dead_url(), clock)
    clock.now += 3600
    tier, source, message = svc.tier(member)
    assert (tier, source) == (3, "offline") and "60 min ago" in message
    clock.now = T0 + 86_400  # exactly 24 h: still trusted
    assert svc.tier(member)[:2] == (3, "offline")
    clock.now = T0 + 86_401  # older: tier 0, and the cashier is told why
    tier, source, message = svc.tier(member)
    assert (tier, source) == (0, "offline")
    assert "chain unreachable" in message and "no member discount" in message


def test_unknown_member_offline_is_tier_0_with_a_message(tmp_path: Path) -> None:
    svc = _service(tmp_path / "till.db", _dead_url(), Clock())
    tier, source, message = svc.tier(MemberPass.decode(_pass()).member)
    assert (tier, source) == (0, "offline") and "no tier known" in message


def test_the_cache_survives_a_restart(tmp_path: Path) -> None:
    node, clock = Node(tier=1), Clock()
    member = MemberPass.decode(_pass()).member
    with serve_post(node.answer) as url:
        first = _service(tmp_path / "till.db", url, clock)
        assert first.tier(member) == (1, "chain", "")
        first.members.store.close()
    # a new process (new connection to the same file), node gone
    clock.now += 30
    again = _service(tmp_path / "till.db", _dead_url(), clock)
    assert again.tier(member) == (1, "cache", "")
    clock.now += 3600
    assert again.tier(member)[:2] == (1, "offline")


def test_accept_marks_the_pass_used_and_it_stays_used_after_a_restart(tmp_path: Path) -> None:
    node, clock = Node(tier=2), Clock()
    text = _pass()
    with serve_post(node.answer) as url:
        svc = _service(tmp_path / "till.db", url, clock)
        state = svc.accept(text)
        assert (state.tier, state.discount_percent, state.source) == (2, Decimal(5), "chain")
        # the same open sale may show it again (a second scan): no reuse
        assert svc.accept(text, current=state.pass_id).tier == 2
        with pytest.raises(Conflict) as err:
            svc.accept(text)
        assert err.value.code == "pass_used" and err.value.http_status == 409
        svc.members.store.close()
        again = _service(tmp_path / "till.db", url, clock)
        with pytest.raises(Conflict, match="used before"):
            again.accept(text)
        # a fresh pass of the same member is fine
        assert again.accept(_pass(T0 + 301)).address == state.address
        # once expired, the used list forgets it; the pass itself is refused as expired
        clock.now = T0 + 400
        with pytest.raises(PassExpired):
            again.accept(text)
        assert again.members.pass_used(state.pass_id)
        assert again.members.use_pass("ab" * 32, state.address, int(T0 + 900), clock.now)
        assert not again.members.pass_used(state.pass_id)  # expired entries are pruned


def test_no_staking_address_or_chain_id_is_membership_unavailable(tmp_path: Path) -> None:
    store = Store(tmp_path / "till.db")
    svc = Membership(store, MembershipConfig(), ChainCfg("", ""), lambda: CHAIN_ID, Clock())
    with pytest.raises(MembershipUnavailable) as err:
        svc.accept(_pass())
    assert err.value.http_status == 503 and "staking_address" in err.value.message
    svc = Membership(store, MembershipConfig(), ChainCfg("", STAKING), lambda: None, Clock())
    with pytest.raises(MembershipUnavailable, match="chain id"):
        svc.accept(_pass())


# -- the discount ---------------------------------------------------------------------------------
def test_percent_for_tier_past_the_end_gets_the_last_entry() -> None:
    discounts = [0, 2, 5, 10]
    assert [percent_for(discounts, t) for t in range(7)] == [0, 2, 5, 10, 10, 10, 10]
    assert percent_for([0, 2.5], 1) == Decimal("2.5")


@pytest.mark.parametrize(
    ("gross", "percent", "discount"),
    [(10, 5, 1), (9, 5, 0), (30, 5, 2), (50, 1, 1), (49, 1, 0), (250, 2, 5), (1, 50, 1)],
)
def test_line_discount_rounds_half_up(gross: int, percent: int, discount: int) -> None:
    # 10 × 5 % = 0.5 → 1; 9 × 5 % = 0.45 → 0; 30 × 5 % = 1.5 → 2; 50 × 1 % = 0.5 → 1
    assert line_discount(gross, Decimal(percent)) == discount


def _product(barcode: str, price: int, rate: str) -> Product:
    return Product(barcode=barcode, name=barcode, price_minor=price, tax_rate=Decimal(rate))


def _state(tier: int, percent: str) -> membership.MemberState:
    return membership.MemberState("0x" + "11" * 20, tier, Decimal(percent), "chain", "", "id", 0)


def test_discount_per_line_then_tax_per_rate_on_the_discounted_lines() -> None:
    sale = Sale()
    sale.add(_product("a", 1999, "19"), Decimal(1), None, "price")
    sale.add(_product("b", 10, "7"), Decimal(1), None, "price")
    membership.apply(sale, _state(2, "5"))  # pass shown after the scans
    sale.add(_product("c", 30, "7"), Decimal(1), None, "price")  # a scan after the pass
    # 1999 × 5 % = 99.95 → 100; 10 × 5 % = 0.5 → 1; 30 × 5 % = 1.5 → 2: per line, half-up
    assert [ln.member_discount for ln in sale.lines] == [100, 1, 2]
    assert [ln.total for ln in sale.lines] == [1899, 9, 28]
    assert sale.total == 1936
    member = sale.to_json()["member"]
    assert member["discount"] == 103 and member["tier"] == 2 and member["discount_percent"] == 5
    groups = tax_breakdown(
        [ReceiptLine(ln.name, ln.qty, ln.unit_price, ln.total, ln.tax_rate) for ln in sale.lines]
    )
    # the tax of each rate is computed on the discounted gross: 1899 × 19/119, 37 × 7/107
    assert [(g.rate, g.gross, g.tax) for g in groups] == [
        (Decimal(19), 1899, 303),
        (Decimal(7), 37, 2),
    ]
    # a different member's pass replaces the discount (no compounding)
    membership.apply(sale, _state(3, "10"))
    assert [ln.member_discount for ln in sale.lines] == [200, 1, 3]
    assert sale.total == 1799 + 9 + 27
    sale.void(1)
    assert sale.to_json()["member"]["discount"] == 203
    kind, data = membership.sale_events(sale)[0]
    assert kind == "member_discount" and data["lines"] == [200, 3] and data["discount"] == 203


def test_a_pass_after_payment_started_is_refused_like_a_scan() -> None:
    sale = Sale()
    sale.add(_product("a", 100, "19"), Decimal(1), None, "price")
    sale.pay("card", 50)
    with pytest.raises(Conflict) as err:
        membership._editable(sale)
    assert err.value.code == "payment_started"


def test_read_marks_nothing_and_of_two_concurrent_uses_one_wins(tmp_path: Path) -> None:
    """The pass is marked used only by ``mark_used`` (the step that applies it to the sale):
    two registers that both read the same pass cannot both take it."""
    node, clock = Node(tier=1), Clock()
    text = _pass()
    with serve_post(node.answer) as url:
        svc = _service(tmp_path / "till.db", url, clock)
        first, second = svc.read(text), svc.read(text)  # both checked it, neither applied yet
        assert not svc.members.pass_used(first.pass_id, clock.now)
        svc.mark_used(first)
        with pytest.raises(Conflict) as err:
            svc.mark_used(second)
        assert err.value.code == "pass_used"
        with pytest.raises(Conflict, match="used before"):
            svc.read(text)  # refused before any chain read
        assert len(node.reads) == 1  # the second read came from the cache


def test_no_contract_at_the_staking_address_is_unavailable_not_offline(tmp_path: Path) -> None:
    def empty(body: bytes) -> tuple[int, bytes]:
        req = json.loads(body)
        return 200, json.dumps({"jsonrpc": "2.0", "id": req["id"], "result": "0x"}).encode()

    with serve_post(empty) as url:
        svc = _service(tmp_path / "till.db", url, Clock())
        with pytest.raises(MembershipUnavailable) as err:
            svc.accept(_pass())
        assert err.value.http_status == 503 and "[chain] staking_address" in err.value.message
        assert not svc.members.pass_used(MemberPass.decode(_pass()).pass_id)
