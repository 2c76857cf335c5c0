"""titanoboa tests of till membership (DESIGN §4: a till joins a store only with its own
consent, moves between stores, keeps its old batches' currency) and the contract edge cases of
issue 8 #12 (rate bound, zero-amount batches under a lowered cap)."""

from __future__ import annotations

import boa
import pytest
from eth_utils import keccak
from helpers.chainfixtures import DAY, RATE, T0, Till, World, add_till, chain_id, reason
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posd import proof

pytestmark = pytest.mark.contracts

USD_RATE = 7 * 10**15


def other_store(world: World, name: bytes, currency: bytes = b"USD", cap: int = 10**12):
    """A second store with its own owner (and a rate for its currency)."""
    owner = boa.env.generate_address(name.decode())
    sid = keccak(name)
    world.mining.registerStore(sid, owner, currency, cap)
    if world.mining.rate(currency) == 0:
        world.mining.setRate(currency, USD_RATE)
    return sid, owner


def claim_reward(world: World, till: Till, index: int, seq: int) -> int:
    recipient = boa.env.generate_address()
    world.mining.claim(*world.claim_args(till, index, seq, recipient))
    return world.token.balanceOf(recipient)


# ------------------------------------------------------------------ consent


@pytest.mark.parametrize("sender", ["owner", "admin"])
def test_squatting_refused_without_the_tills_consent(world, sender):
    """Neither the store owner nor the admin can bind a till that did not sign JoinStore."""
    m = world.mining
    who = world.owner if sender == "owner" else world.admin
    victim, mallory = Till.new(), Till.new()
    deadline, good = victim.consent(m, world.store)
    forged = proof.sign_digest(
        mallory.key,
        proof.join_store_digest(chain_id(), m.address, world.store, victim.address, deadline),
    )
    other_sid, _ = other_store(world, b"Other Shop", b"EUR")
    _, for_other_store = victim.consent(m, other_sid, deadline)
    other_chain = proof.sign_digest(
        victim.key,
        proof.join_store_digest(chain_id() + 1, m.address, world.store, victim.address, deadline),
    )
    with boa.env.prank(who):
        for bad in (b"", b"\x00" * 65, good[:64], forged, for_other_store, other_chain):
            with reason("BadSignature"):
                m.addTill(world.store, victim.address, deadline, bad)
        with reason("BadSignature"):  # the deadline is part of what the till signed
            m.addTill(world.store, victim.address, deadline + 1, good)
        with reason("BadSignature"):  # a consent names its till
            m.addTill(world.store, mallory.address, deadline, good)
    assert not m.isTill(victim.address) and not m.isTill(mallory.address)
    with boa.env.prank(who):
        m.addTill(world.store, victim.address, deadline, good)
    assert m.isTill(victim.address)


def test_expired_consent(world):
    m, till = world.mining, Till.new()
    now = boa.env.evm.patch.timestamp
    with boa.env.prank(world.owner):
        with reason("ConsentExpired"):
            m.addTill(world.store, till.address, *till.consent(m, world.store, now - 1))
        m.addTill(world.store, till.address, *till.consent(m, world.store, now))  # last second
    assert m.isTill(till.address)


def test_consent_is_single_use(world):
    """A removed till comes back only with a fresh consent, not a replay of the old one."""
    m, till = world.mining, Till.new()
    deadline, sig = till.consent(m, world.store)
    with boa.env.prank(world.owner):
        m.addTill(world.store, till.address, deadline, sig)
        m.removeTill(till.address)
        with reason("ConsentUsed"):
            m.addTill(world.store, till.address, deadline, sig)
        assert not m.isTill(till.address)
        m.addTill(world.store, till.address, *till.consent(m, world.store))
    assert m.isTill(till.address)
    assert m.consentUsed(m.joinStoreDigest(world.store, till.address, deadline))


def test_till_of_another_store_until_removed(world):
    m, till = world.mining, world.till
    other_sid, other_owner = other_store(world, b"Other Shop", b"EUR")
    deadline, sig = till.consent(m, other_sid)
    for who in (other_owner, world.admin):  # the consent does not pull an active till over
        with boa.env.prank(who):
            with reason("TillOfOtherStore"):
                m.addTill(other_sid, till.address, deadline, sig)
    with boa.env.prank(world.owner):
        m.removeTill(till.address)
    with boa.env.prank(other_owner):
        m.addTill(other_sid, till.address, deadline, sig)  # not spent by the refused attempts
    assert m.tillStore(till.address) == other_sid
    with boa.env.prank(world.owner):
        with reason("NotOwner"):  # the old owner has no hold on it any more
            m.removeTill(till.address)


# ------------------------------------------------------------------ moving tills


def test_moved_till_keeps_old_batches_store_and_currency():
    with boa.env.anchor():
        w = World.create(cap=10**6)
        m, till = w.mining, w.till
        eur_index, _ = w.commit(amounts=(100, 200, 300))  # seqs 1..3 in the EUR store
        used_eur = m.store(w.store)[3]
        with boa.env.prank(w.owner):
            m.removeTill(till.address)
        usd_sid, usd_owner = other_store(w, b"Dollar Shop", b"USD", cap=1000)
        add_till(m, usd_sid, till, usd_owner)
        assert m.nextSeq(till.address) == 4 and m.tillStore(till.address) == usd_sid
        usd_index, _ = w.commit(amounts=(40, 50))  # seqs 4..5, same bitmap word: tagged MIXED
        assert m.batchCurrency(till.address, eur_index) == b"EUR"
        assert m.batchCurrency(till.address, usd_index) == b"USD"
        with reason("UnknownBatch"):
            m.batchCurrency(till.address, 2)
        # the daily caps: the old store's use is untouched, the new batches count in the new one
        assert m.store(w.store)[3] == used_eur and m.store(usd_sid)[3] == 90
        with reason("CapExceeded"):
            w.commit(amounts=(911,))  # 1000 - 90 left in the USD store, whatever EUR had
        # claims pay at the rate of the batch's own currency, at claim time
        m.setRate(b"EUR", 2 * RATE)
        assert claim_reward(w, till, eur_index, 2) == 200 * 2 * RATE
        assert claim_reward(w, till, usd_index, 4) == 40 * USD_RATE
        m.setRate(b"EUR", 0)
        with reason("NoRate"):  # the old batch does not fall back to the new store's currency
            m.claim(*w.claim_args(till, eur_index, 3, boa.env.generate_address()))
        assert claim_reward(w, till, usd_index, 5) == 50 * USD_RATE


def test_moves_across_bitmap_words_and_back():
    """Words of one currency stay fast-path; the word where the move happened is MIXED; a
    move back to the first store tags the next boundary word MIXED too."""
    with boa.env.anchor():
        w = World.create(cap=10**12)
        m, till = w.mining, w.till
        usd_sid, usd_owner = other_store(w, b"Dollar Shop", b"USD")
        b0, _ = w.commit(amounts=[1] * 256)  # EUR: seqs 1..256 (word 0 all EUR; word 1 starts)
        with boa.env.prank(w.owner):
            m.removeTill(till.address)
        add_till(m, usd_sid, till, usd_owner)
        b1, _ = w.commit(amounts=[2] * 256)  # USD: seqs 257..512 (word 1 MIXED, word 2 USD)
        with boa.env.prank(usd_owner):
            m.removeTill(till.address)
        add_till(m, w.store, till, w.owner)
        b2, _ = w.commit(amounts=[3] * 10)  # EUR again: seqs 513..522 (word 2 MIXED now)
        expected = {
            (b0, 5): 1 * RATE,  # word 0, EUR only
            (b0, 240): 1 * RATE,  # word 1, MIXED
            (b1, 257): 2 * USD_RATE,  # word 1, MIXED
            (b1, 463): 2 * USD_RATE,  # word 1 (232..463), MIXED
            (b1, 500): 2 * USD_RATE,  # word 2, MIXED since the move back
            (b2, 513): 3 * RATE,  # word 2, MIXED
        }
        for (index, seq), reward in expected.items():
            assert claim_reward(w, till, index, seq) == reward, (index, seq)
        assert m.batch(till.address, b1)[:2] == (257, 256)


def test_move_to_a_store_of_the_same_currency(world):
    m, till = world.mining, world.till
    index, _ = world.commit(amounts=(10,))
    sid, owner = other_store(world, b"Euro Two", b"EUR")
    with boa.env.prank(world.owner):
        m.removeTill(till.address)
    add_till(m, sid, till, owner)
    index2, _ = world.commit(amounts=(20,))
    assert claim_reward(world, till, index, 1) == 10 * RATE
    assert claim_reward(world, till, index2, 2) == 20 * RATE


# ------------------------------------------------------------------ #12 edge cases


def test_zero_amount_batches_pass_a_cap_lowered_below_todays_use():
    with boa.env.anchor():
        w = World.create(cap=1000)
        m = w.mining
        w.commit(amounts=(800,))
        m.registerStore(w.store, w.owner, b"EUR", 500)  # lowered below today's 800
        assert m.store(w.store)[2:] == (500, 800)
        w.commit(amounts=(0, 0, 0))  # refunds / fillers keep the chain gap-free
        with reason("CapExceeded"):
            w.commit(amounts=(0, 1))
        m.registerStore(w.store, w.owner, b"EUR", 0)  # even a zero cap
        w.commit(amounts=(0,))
        assert m.store(w.store)[3] == 800 and m.nextSeq(w.till.address) == 6
        boa.env.evm.patch.timestamp = (T0 // DAY + 1) * DAY
        with reason("CapExceeded"):
            w.commit(amounts=(1,))
        w.commit(amounts=(0,))


def test_max_rate_times_max_amount_claims_without_overflow():
    with boa.env.anchor():
        w = World.create(max_supply=2**255, cap=2**96 - 1)
        m = w.mining
        max_rate = (2**256 - 1) // proof.MAX_AMOUNT
        m.setRate(b"EUR", max_rate)
        index, _ = w.commit(amounts=(proof.MAX_AMOUNT,))
        # era 0, supply 0: the full product, clamped to the supply left
        assert claim_reward(w, w.till, index, 1) == min(proof.MAX_AMOUNT * max_rate, 2**255)
        with reason("RateTooHigh"):
            m.setRate(b"EUR", max_rate + 1)


# ------------------------------------------------------------------ property


moves = st.lists(
    st.tuples(st.sampled_from([b"EUR", b"USD", b"GBP"]), st.integers(1, 240)),
    min_size=1,
    max_size=5,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=moves, picks=st.lists(st.integers(0, 10**9), min_size=3, max_size=3))
def test_claims_pay_in_the_currency_each_batch_was_committed_under(plan, picks):
    """A till hops between stores of three currencies, committing a batch in each; any seq
    then claims at its batch's currency rate."""
    rates = {b"EUR": RATE, b"USD": USD_RATE, b"GBP": 3 * 10**15}
    with boa.env.anchor():
        w = World.create()
        m, till = w.mining, w.till
        stores = {b"EUR": (w.store, w.owner)}
        for cur in (b"USD", b"GBP"):
            stores[cur] = other_store(w, b"Shop " + cur, cur)
            m.setRate(cur, rates[cur])
        current = b"EUR"
        batches = []
        for cur, n in plan:
            if cur != current:
                with boa.env.prank(stores[current][1]):
                    m.removeTill(till.address)
                add_till(m, stores[cur][0], till, stores[cur][1])
                current = cur
            index, leaves = w.commit(amounts=[7] * n)
            batches.append((index, leaves, cur))
        for pick in picks:
            index, leaves, cur = batches[pick % len(batches)]
            seq = leaves[pick % len(leaves)].seq
            if m.isClaimed(till.address, seq):
                continue
            assert m.batchCurrency(till.address, index) == cur
            assert claim_reward(w, till, index, seq) == 7 * rates[cur]
