"""titanoboa tests of DSGStaking's review fixes (issue 11): the admin recovers profit that streamed
to nobody, surplus and stray tokens (never what stakers are owed, the stream still to come or the
staked DSG); fee-on-transfer profit tokens stream what arrived; a paused contract still lets
stakers withdraw; ownership reverts carry DESIGN-style names; a deposit may not stretch a stream.
"""

from __future__ import annotations

import boa
import pytest
from helpers.staking_world import DAY, DSG, USD, WEEK, Pool, logs_named, now, stable_deployer, warp
from helpers.staking_world import staking_deployer as staking_partial

pytestmark = pytest.mark.contracts

# A profit token that keeps 1% of every transfer (fee-on-transfer) and whose holders can lose
# balance (slash: a rebase down or a seizure), returning bools like a plain ERC-20.
FEE_TOKEN = """
# pragma version ~=0.4.3
balanceOf: public(HashMap[address, uint256])
allowance: public(HashMap[address, HashMap[address, uint256]])
totalSupply: public(uint256)
FEE_BPS: constant(uint256) = 100

@external
@view
def decimals() -> uint8:
    return 6

@external
def mint(to: address, amount: uint256):
    self.balanceOf[to] += amount
    self.totalSupply += amount

@external
def slash(who: address, amount: uint256):
    self.balanceOf[who] -= amount
    self.totalSupply -= amount

@external
def approve(spender: address, amount: uint256) -> bool:
    self.allowance[msg.sender][spender] = amount
    return True

@internal
def _move(src: address, dst: address, amount: uint256):
    fee: uint256 = amount * FEE_BPS // 10000
    self.balanceOf[src] -= amount
    self.balanceOf[dst] += amount - fee
    self.totalSupply -= fee

@external
def transfer(to: address, amount: uint256) -> bool:
    self._move(msg.sender, to, amount)
    return True

@external
def transferFrom(src: address, to: address, amount: uint256) -> bool:
    self.allowance[src][msg.sender] -= amount
    self._move(src, to, amount)
    return True
"""


@pytest.fixture
def fee_pool():
    """A pool whose profit token takes a 1% fee on every transfer."""
    with boa.env.anchor():
        base = Pool.create()
        fee = boa.loads(FEE_TOKEN)
        staking = staking_partial().deploy(base.dsg.address, fee.address, [])
        yield Pool(staking, base.dsg, fee, base.admin)


def recovered(pool) -> list[tuple]:
    return [(e.token, e.to, e.amount) for e in logs_named(pool.staking, "Recovered")]


# ------------------------------------------------------------------ 1. recovery


def test_recover_profit_takes_what_streamed_to_nobody_not_the_stream_to_come(pool):
    s, a = pool.staking, pool.staker("a")
    vault = boa.env.generate_address("vault")
    pool.deposit(WEEK * USD)  # nobody stakes: 1 USD a second streams to nobody
    warp(2 * DAY)
    assert s.recoverable(pool.usd.address) == 2 * DAY * USD
    s.recoverProfit(vault)
    assert pool.usd.balanceOf(vault) == 2 * DAY * USD
    assert recovered(pool) == [(pool.usd.address, vault, 2 * DAY * USD)]
    assert s.unallocated() == 0
    assert pool.usd.balanceOf(s.address) == 5 * DAY * USD  # the rest of the stream stays
    with boa.reverts("NothingToRecover"):
        s.recoverProfit(vault)
    pool.stake(a, DSG)  # the stream's last five days go to the staker, all of them
    warp(WEEK)
    assert 5 * DAY * USD - 2 <= s.earned(a) <= 5 * DAY * USD
    assert s.recoverable(pool.usd.address) <= 2  # dust only: what a is owed is not recoverable
    assert pool.claim(a) >= 5 * DAY * USD - 2


def test_recover_profit_takes_a_surplus_and_never_what_stakers_are_owed(pool):
    s, a, b = pool.staking, pool.staker("a"), pool.staker("b")
    vault = boa.env.generate_address("vault")
    pool.stake(a, 3 * DSG)
    pool.stake(b, DSG)
    pool.deposit(WEEK * USD)
    warp(3 * DAY)
    pool.usd.mint(s.address, 123 * USD)  # sent by mistake: no stream carries it
    assert s.recoverable(pool.usd.address) == 123 * USD
    s.recoverProfit(vault)
    assert pool.usd.balanceOf(vault) == 123 * USD
    with boa.reverts("NothingToRecover"):  # three days owed, four to come: none of it
        s.recoverProfit(vault)
    warp(WEEK)
    paid = pool.claim(a) + pool.claim(b)
    assert WEEK * USD - 4 <= paid <= WEEK * USD
    assert pool.usd.balanceOf(s.address) == WEEK * USD - paid


def test_recover_profit_keeps_what_a_staker_earned_but_has_not_settled(pool):
    """Owed but never settled (no action since the deposit): the accumulator holds it, not the
    staker's account, and recovery must still leave it."""
    s, a = pool.staking, pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(DAY * USD)
    warp(2 * DAY)  # mid-stream: owed and to come, rounded up, may pass the balance by a unit
    assert s.recoverable(pool.usd.address) == 0
    warp(WEEK)  # the stream has ended; a has not touched the contract since
    assert s.recoverable(pool.usd.address) <= 1
    pool.usd.mint(s.address, 7)
    assert 7 <= s.recoverable(pool.usd.address) <= 8
    s.recoverProfit(boa.env.generate_address("vault"))
    assert pool.claim(a) >= DAY * USD - 1


def test_recover_reverts(pool):
    s = pool.staking
    stranger = pool.staker("x")
    pool.usd.mint(s.address, USD)
    with boa.env.prank(stranger), boa.reverts("NotAdmin"):
        s.recoverProfit(stranger)
    with boa.env.prank(stranger), boa.reverts("NotAdmin"):
        s.recoverToken(pool.usd.address, stranger)
    with boa.reverts("BadAddress"):
        s.recoverProfit("0x" + "00" * 20)
    with boa.reverts("BadAddress"):
        s.recoverToken(pool.usd.address, "0x" + "00" * 20)


def test_recover_other_tokens_and_only_a_dsg_surplus(pool):
    s, a = pool.staking, pool.staker("a", dsg=100 * DSG)
    vault = boa.env.generate_address("vault")
    other = stable_deployer().deploy(0)
    other.mint(s.address, 42)
    s.recoverToken(other.address, vault)
    assert other.balanceOf(vault) == 42
    assert recovered(pool) == [(other.address, vault, 42)]
    with boa.reverts("NothingToRecover"):
        s.recoverToken(other.address, vault)
    # DSG: staked and waiting to unstake are never recoverable, only what lies above them
    pool.stake(a, 100 * DSG)
    pool.request(a, 40 * DSG)
    assert s.totalUnstaking() == 40 * DSG
    with boa.reverts("NothingToRecover"):
        s.recoverToken(pool.dsg.address, vault)
    pool.dsg.mint(s.address, 5 * DSG)
    assert s.recoverable(pool.dsg.address) == 5 * DSG
    s.recoverToken(pool.dsg.address, vault)
    assert pool.dsg.balanceOf(vault) == 5 * DSG
    warp(WEEK)
    pool.withdraw(a)
    assert s.totalUnstaking() == 0
    pool.request(a, 60 * DSG)
    warp(WEEK)
    pool.withdraw(a)
    assert pool.dsg.balanceOf(a) == 100 * DSG
    # the profit token through recoverToken: exactly what recoverProfit would take
    pool.usd.mint(s.address, 9)
    s.recoverToken(pool.usd.address, vault)
    assert pool.usd.balanceOf(vault) == 9


# ------------------------------------------------------------------ 2. fee-on-transfer


def test_fee_on_transfer_profit_streams_what_arrived(fee_pool):
    pool, s, a = fee_pool, fee_pool.staking, fee_pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(1_000 * USD)  # 1% stays with the token: 990 arrive
    assert [e.amount for e in logs_named(s, "ProfitNotified")] == [990 * USD]
    assert s.rewardRate() == 990 * USD // WEEK
    warp(WEEK)
    assert 990 * USD - 1 <= s.earned(a) <= 990 * USD
    before = pool.usd.balanceOf(a)
    with boa.env.prank(a):
        s.claimDividends()  # pays it all (less the token's own fee on the way out)
    assert pool.usd.balanceOf(a) - before >= (990 * USD - 1) * 99 // 100
    assert pool.usd.balanceOf(s.address) <= 1


def test_a_stream_never_promises_more_than_the_balance(fee_pool):
    pool, s, a = fee_pool, fee_pool.staking, fee_pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(1_000 * USD)
    warp(DAY)
    pool.usd.slash(s.address, 900 * USD)  # the balance drops under what the stream promises
    with boa.reverts("ProfitExceedsBalance"):
        pool.deposit(1_000 * USD)


# ------------------------------------------------------------------ 3. pause keeps exits open
# test_staking.py::test_pause_stops_every_move_but_withdraw_and_streaming_goes_on


# ------------------------------------------------------------------ 4. ownership names


def test_ownership_reverts_with_design_names(pool):
    s = pool.staking
    stranger, new = pool.staker("x"), boa.env.generate_address("new-admin")
    with boa.env.prank(stranger), boa.reverts("NotAdmin"):
        s.transfer_ownership(stranger)
    with boa.env.prank(stranger), boa.reverts("NotPendingAdmin"):
        s.accept_ownership()
    s.transfer_ownership(new)
    started = logs_named(s, "OwnershipTransferStarted")
    assert [(e.previous_owner, e.new_owner) for e in started] == [(pool.admin, new)]
    with boa.env.prank(stranger), boa.reverts("NotPendingAdmin"):
        s.accept_ownership()
    with boa.env.prank(new):
        s.accept_ownership()
    assert s.owner() == new and s.pending_owner() == "0x" + "00" * 20
    with boa.env.prank(new), boa.reverts("NotPendingAdmin"):  # only once
        s.accept_ownership()
    with boa.reverts("NotAdmin"):
        s.transfer_ownership(pool.admin)


# ------------------------------------------------------------------ 5. no stretching


def test_a_deposit_may_not_lower_the_rate_of_a_running_stream(pool):
    s, a = pool.staking, pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(WEEK * USD)
    warp(3 * DAY)
    for tiny in (1, 3 * DAY * USD - 1):  # less than what already streamed: would stretch it
        with boa.reverts("DepositTooSmall"):
            pool.deposit(tiny)
    finish = s.periodFinish()
    pool.deposit(3 * DAY * USD)  # exactly what streamed: the rate stays
    assert s.rewardRate() == USD and s.periodFinish() == now() + WEEK > finish
    warp(WEEK)
    pool.deposit(1)  # between streams any amount is fine
    assert s.rewardRate() == 0


def test_stretching_with_unit_deposits_is_refused(pool):
    """The attack the reviewer described: 1-unit deposits keep pushing periodFinish out."""
    s, a = pool.staking, pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(WEEK * USD)
    finish = s.periodFinish()
    for _ in range(3):
        warp(DAY)
        with boa.reverts("DepositTooSmall"):
            pool.deposit(1)
    assert s.periodFinish() == finish
