"""titanoboa unit tests of DSGStaking (DESIGN §11): every function, every revert, every event."""

from __future__ import annotations

import boa
import pytest
from helpers.staking_world import DAY, DSG, USD, WEEK, logs_named, now, warp

pytestmark = pytest.mark.contracts


def events(pool, name):
    """The logs of event ``name`` since the last call, each as a tuple of its fields."""
    fields = next(
        [i["name"] for i in x["inputs"]]
        for x in pool.staking.abi
        if x["type"] == "event" and x["name"] == name
    )
    return [tuple(getattr(e, f) for f in fields) for e in logs_named(pool.staking, name)]


# ------------------------------------------------------------------ deploy


def test_deploy_defaults(pool):
    s = pool.staking
    assert s.stakingToken() == pool.dsg.address
    assert s.profitToken() == pool.usd.address
    assert s.owner() == pool.admin
    assert s.cooldown() == WEEK and s.rewardsDuration() == WEEK
    assert s.tierCount() == 0 and s.tiers() == []
    assert not s.paused()
    assert (s.totalStaked(), s.rewardRate(), s.periodFinish(), s.unallocated()) == (0, 0, 0, 0)
    assert pool.usd.decimals() == 6


def test_deploy_rejects_bad_tokens(pool):
    from helpers.staking_world import staking_deployer

    zero = "0x" + "00" * 20
    for args in ((zero, pool.usd.address), (pool.dsg.address, zero), (pool.dsg, pool.dsg)):
        with boa.reverts("BadToken"):
            staking_deployer().deploy(*args, [])
    with boa.reverts("TiersNotAscending"):
        staking_deployer().deploy(pool.dsg, pool.usd, [2, 1])
    with_tiers = staking_deployer().deploy(pool.dsg, pool.usd, [10, 20])
    assert with_tiers.tiers() == [10, 20] and with_tiers.owner() == pool.admin


# ------------------------------------------------------------------ stake / unstake / withdraw


def test_stake_moves_tokens_and_counts(pool):
    a = pool.staker("a")
    pool.stake(a, 150 * DSG)
    assert events(pool, "Staked") == [(a, 150 * DSG)]
    pool.stake(a, 50 * DSG)
    s = pool.staking
    assert s.stakedOf(a) == 200 * DSG == s.totalStaked()
    assert pool.dsg.balanceOf(s.address) == 200 * DSG


def test_stake_reverts(pool):
    a = pool.staker("a", dsg=10 * DSG)
    with boa.reverts("ZeroAmount"):
        pool.stake(a, 0)
    with boa.reverts():  # the token refuses: more than the balance
        pool.stake(a, 11 * DSG)
    poor = boa.env.generate_address("no-allowance")
    pool.dsg.mint(poor, DSG)
    with boa.reverts():
        pool.stake(poor, DSG)
    with boa.reverts("AmountTooLarge"):
        big = pool.staker("big", dsg=2**129)
        pool.stake(big, 2**128)


def test_request_unstake_takes_the_amount_out_at_once(pool):
    pool.staking.setTierThresholds([100 * DSG])
    a = pool.staker("a")
    pool.stake(a, 150 * DSG)
    assert pool.staking.tierOf(a) == 1
    pool.request(a, 60 * DSG)
    available = now() + WEEK
    assert events(pool, "UnstakeRequested") == [(a, 60 * DSG, available)]
    s = pool.staking
    assert s.stakedOf(a) == 90 * DSG and s.totalStaked() == 90 * DSG
    assert s.tierOf(a) == 0  # what waits to leave counts for no tier
    assert s.unstakeRequest(a) == (60 * DSG, available)


def test_request_unstake_reverts(pool):
    a = pool.staker("a")
    with boa.reverts("ZeroAmount"):
        pool.request(a, 0)
    with boa.reverts("InsufficientStake"):
        pool.request(a, 1)
    pool.stake(a, 10)
    with boa.reverts("InsufficientStake"):
        pool.request(a, 11)


def test_withdraw_after_the_cooldown_only(pool):
    a = pool.staker("a", dsg=100 * DSG)
    pool.stake(a, 100 * DSG)
    pool.request(a, 40 * DSG)
    with boa.reverts("CooldownActive"):
        pool.withdraw(a)
    warp(WEEK - 10)
    with boa.reverts("CooldownActive"):
        pool.withdraw(a)
    warp(10)
    pool.withdraw(a)
    assert pool.dsg.balanceOf(a) == 40 * DSG
    assert events(pool, "Withdrawn") == [(a, 40 * DSG)]
    assert pool.staking.unstakeRequest(a) == (0, 0)
    with boa.reverts("NothingToWithdraw"):  # no double withdraw
        pool.withdraw(a)
    assert pool.dsg.balanceOf(pool.staking.address) == 60 * DSG


def test_a_second_request_adds_and_restarts_the_cooldown(pool):
    a = pool.staker("a")
    pool.stake(a, 100)
    pool.request(a, 10)
    warp(5 * DAY)
    pool.request(a, 20)
    assert pool.staking.unstakeRequest(a) == (30, now() + WEEK)
    warp(3 * DAY)
    with boa.reverts("CooldownActive"):
        pool.withdraw(a)
    warp(4 * DAY)
    pool.withdraw(a)
    assert pool.staking.stakedOf(a) == 70


def test_nothing_to_withdraw_without_a_request(pool):
    with boa.reverts("NothingToWithdraw"):
        pool.withdraw(pool.staker("a"))


def test_set_cooldown(pool):
    s = pool.staking
    s.setCooldown(DAY)
    assert events(pool, "CooldownSet") == [(DAY,)]
    assert s.cooldown() == DAY
    s.setCooldown(0)  # allowed: instant withdraw
    a = pool.staker("a")
    pool.stake(a, 5)
    pool.request(a, 5)
    pool.withdraw(a)
    with boa.reverts("PeriodTooLong"):
        s.setCooldown(366 * DAY)
    with boa.env.prank(a), boa.reverts("NotAdmin"):
        s.setCooldown(1)


# ------------------------------------------------------------------ tiers


def test_tier_boundaries(pool):
    s = pool.staking
    s.setTierThresholds([100 * DSG, 1_000 * DSG, 10_000 * DSG])
    assert events(pool, "TierThresholdsSet") == [([100 * DSG, 1_000 * DSG, 10_000 * DSG],)]
    assert s.tiers() == [100 * DSG, 1_000 * DSG, 10_000 * DSG]
    assert [s.tierThresholds(i) for i in range(3)] == [100 * DSG, 1_000 * DSG, 10_000 * DSG]
    with boa.reverts("NoSuchTier"):
        s.tierThresholds(3)
    a = pool.staker("a")
    assert s.tierOf(a) == 0
    for amount, tier in (
        (100 * DSG - 1, 0),
        (1, 1),  # exactly 100 DSG
        (900 * DSG - 1, 1),
        (1, 2),
        (9_000 * DSG, 3),
        (10**9, 3),  # past the last threshold stays at the last tier
    ):
        pool.stake(a, amount)
        assert s.tierOf(a) == tier, s.stakedOf(a)
    s.setTierThresholds([])  # tiers off
    assert s.tierOf(a) == 0 and s.tierCount() == 0


def test_set_tier_thresholds_reverts(pool):
    s = pool.staking
    with boa.reverts("ZeroThreshold"):
        s.setTierThresholds([0, 5])
    with boa.reverts("TiersNotAscending"):
        s.setTierThresholds([5, 5])
    with boa.reverts("TiersNotAscending"):
        s.setTierThresholds([5, 7, 6])
    with boa.reverts("TooManyTiers"):
        s.setTierThresholds(list(range(1, 10)))
    s.setTierThresholds(list(range(1, 9)))  # eight is the most
    assert s.tierCount() == 8
    with boa.reverts():  # past the ABI bound: fails decoding, reverts all the same
        s.setTierThresholds(list(range(1, 40)))
    with boa.env.prank(pool.staker("x")), boa.reverts("NotAdmin"):
        s.setTierThresholds([1])


# ------------------------------------------------------------------ dividends


def test_single_staker_gets_the_whole_stream(pool):
    a = pool.staker("a")
    pool.stake(a, 100 * DSG)
    pool.deposit(700 * USD)
    finish = now() + WEEK
    assert events(pool, "ProfitNotified") == [(700 * USD, finish)]
    assert pool.staking.periodFinish() == finish
    assert pool.staking.rewardRate() == 700 * USD // WEEK
    warp(WEEK // 2)
    assert abs(pool.staking.earned(a) - 350 * USD) <= 1
    warp(WEEK)  # past the end: nothing more streams
    assert pool.staking.earned(a) == 700 * USD - 1 or pool.staking.earned(a) == 700 * USD
    paid = pool.claim(a)
    assert events(pool, "DividendPaid") == [(a, paid)]
    assert 700 * USD - 1 <= paid <= 700 * USD
    assert pool.staking.earned(a) == 0
    with boa.reverts("NothingToClaim"):
        pool.claim(a)


def test_pro_rata_and_a_late_staker_gets_only_what_streams_while_staked(pool):
    a, b = pool.staker("a"), pool.staker("b")
    pool.stake(a, 300 * DSG)
    pool.deposit(WEEK * USD)  # 1 USD a second
    warp(DAY)
    pool.stake(b, 100 * DSG)
    warp(WEEK)
    ea, eb = pool.staking.earned(a), pool.staking.earned(b)
    assert abs(ea - (DAY + (WEEK - DAY) * 3 // 4) * USD) <= 2
    assert abs(eb - (WEEK - DAY) // 4 * USD) <= 2
    assert ea + eb <= WEEK * USD


def test_flash_stake_before_a_deposit_earns_nothing_and_cannot_leave(pool):
    a, flash = pool.staker("a"), pool.staker("flash")
    pool.stake(a, 100 * DSG)
    pool.stake(flash, 10_000 * DSG)  # a whale, just before the deposit, same block
    pool.deposit(1_000 * USD)
    assert pool.staking.earned(flash) == 0
    with boa.reverts("NothingToClaim"):  # nothing streamed yet: no share of the deposit
        pool.claim(flash)
    pool.request(flash, 10_000 * DSG)  # and it cannot leave with the DSG either
    with boa.reverts("CooldownActive"):
        pool.withdraw(flash)
    warp(WEEK)
    assert pool.staking.earned(flash) == 0  # waiting to unstake earns nothing
    assert pool.staking.earned(a) >= 1_000 * USD - 1
    pool.withdraw(flash)
    assert pool.dsg.balanceOf(flash) == 10**9 * DSG


def test_a_deposit_during_a_stream_adds_the_rest(pool):
    a = pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(WEEK * USD)
    warp(3 * DAY)
    pool.deposit(WEEK * USD)
    rest = 4 * DAY * USD
    assert pool.staking.rewardRate() == (WEEK * USD + rest) // WEEK
    assert pool.staking.periodFinish() == now() + WEEK
    warp(WEEK)
    assert 2 * WEEK * USD - 2 <= pool.staking.earned(a) <= 2 * WEEK * USD


def test_profit_streamed_into_an_empty_pool_waits_for_the_next_stakers(pool):
    a = pool.staker("a")
    pool.deposit(WEEK * USD)  # nobody stakes
    warp(2 * DAY)
    pool.stake(a, DSG)  # the first staker: what streamed to nobody starts streaming again
    restream = events(pool, "Restreamed")
    assert restream and restream[-1][0] == WEEK * USD and restream[-1][1] == now() + WEEK
    assert pool.staking.unallocated() == 0
    warp(WEEK)
    assert WEEK * USD - 2 <= pool.staking.earned(a) <= WEEK * USD
    # everyone leaves mid-stream: the rest is set aside again and goes to the next deposit
    pool.deposit(WEEK * USD)
    pool.request(a, DSG)
    warp(DAY)
    pool.deposit(DAY * USD)  # at least what streamed of the running stream (no stretching)
    assert pool.staking.unallocated() == DAY * USD  # kept while nobody stakes
    b = pool.staker("b")
    pool.stake(b, DSG)
    assert pool.staking.unallocated() == 0
    warp(2 * WEEK)
    total = pool.staking.earned(a) + pool.staking.earned(b)
    assert 2 * WEEK * USD + DAY * USD - 4 <= total <= 2 * WEEK * USD + DAY * USD
    pool.claim(a)
    pool.claim(b)
    assert pool.usd.balanceOf(pool.staking.address) <= 4


def test_claim_keeps_the_stake_and_accrual_continues(pool):
    a = pool.staker("a")
    pool.stake(a, DSG)
    pool.deposit(WEEK * USD)
    warp(DAY)
    first = pool.claim(a)
    warp(DAY)
    second = pool.claim(a)
    assert abs(first - DAY * USD) <= 1 and abs(second - DAY * USD) <= 1
    assert pool.staking.stakedOf(a) == DSG


def test_six_decimal_profit_over_huge_stake_still_accrues(pool):
    whale = pool.staker("whale", dsg=10**28)
    small = pool.staker("small")
    pool.stake(whale, 10**27)  # a billion DSG
    pool.stake(small, 1)  # one wei of DSG
    pool.deposit(1 * USD)  # one dollar over a week: ~1.65 units a second
    before = pool.staking.rewardPerToken()
    warp(12)  # one block
    assert pool.staking.rewardPerToken() > before
    warp(WEEK)
    assert pool.staking.earned(whale) == USD - 1 or pool.staking.earned(whale) == USD
    assert pool.staking.earned(small) == 0  # 10^-27 of a dollar rounds down


def test_tiny_and_huge_deposits(pool):
    a = pool.staker("a")
    pool.stake(a, 3)
    pool.deposit(1_000)  # 1,000 units over a week: an unscaled rate would be 0 a second
    warp(WEEK)
    assert 998 <= pool.staking.earned(a) <= 1_000
    pool.claim(a)
    big = (1 << 88) - 10  # about the largest stream (a unit or two of dust is still owed)
    pool.deposit(big)
    warp(WEEK)
    assert big - 3 <= pool.staking.earned(a) <= big
    with boa.reverts("ProfitTooLarge"):
        pool.deposit(1 << 88)
    with boa.reverts("ProfitTooLarge"):  # what is still owed counts beside the new stream
        pool.deposit(big)
    pool.claim(a)
    pool.deposit(big)  # once paid, there is room again


def test_notify_profit_roles_and_reverts(pool):
    s = pool.staking
    dist = pool.staker("distributor")
    with boa.reverts("NotDistributor"):
        pool.deposit(USD, sender=dist)
    s.setDistributor(dist, True)
    assert events(pool, "DistributorSet") == [(dist, True)]
    assert s.isDistributor(dist)
    pool.deposit(USD, sender=dist)
    s.setDistributor(dist, False)
    with boa.reverts("NotDistributor"):
        pool.deposit(USD, sender=dist)
    with boa.reverts("ZeroAmount"):
        s.notifyProfit(0)
    with boa.reverts():  # no allowance: the token refuses
        s.notifyProfit(USD)
    with boa.reverts("BadAddress"):
        s.setDistributor("0x" + "00" * 20, True)
    with boa.env.prank(dist), boa.reverts("NotAdmin"):
        s.setDistributor(dist, True)


def test_set_rewards_duration_between_streams_only(pool):
    s = pool.staking
    s.setRewardsDuration(DAY)
    assert events(pool, "RewardsDurationSet") == [(DAY,)]
    assert s.rewardsDuration() == DAY
    pool.deposit(DAY * USD)
    assert s.periodFinish() == now() + DAY
    with boa.reverts("StreamActive"):
        s.setRewardsDuration(WEEK)
    warp(DAY)
    s.setRewardsDuration(WEEK)
    with boa.reverts("ZeroDuration"):
        s.setRewardsDuration(0)
    with boa.reverts("PeriodTooLong"):
        s.setRewardsDuration(366 * DAY)
    with boa.env.prank(pool.staker("x")), boa.reverts("NotAdmin"):
        s.setRewardsDuration(DAY)


# ------------------------------------------------------------------ pause, admin


def test_pause_stops_every_move_but_withdraw_and_streaming_goes_on(pool):
    s = pool.staking
    a = pool.staker("a")
    pool.stake(a, 10 * DSG)
    pool.request(a, DSG)
    pool.deposit(WEEK * USD)
    s.pause()
    assert len(logs_named(s, "Paused")) == 1
    assert s.paused()
    pool.usd.mint(pool.admin, USD)
    pool.usd.approve(s.address, USD)
    for call in (
        lambda: pool.stake(a, DSG),
        lambda: pool.request(a, DSG),
        lambda: pool.claim(a),
        lambda: s.notifyProfit(USD),
    ):
        with boa.reverts("Paused"):
            call()
    with boa.reverts("Paused"):
        s.pause()
    with boa.reverts("CooldownActive"):  # withdraw is open, the cool-down still holds
        pool.withdraw(a)
    warp(WEEK)
    assert s.earned(a) >= WEEK * USD - 1  # views still answer; the stream kept its schedule
    pool.withdraw(a)  # paused or not: DSG whose cool-down is over goes back
    assert pool.dsg.balanceOf(a) == 10**9 * DSG - 9 * DSG
    for call in (  # and the withdraw opened nothing else
        lambda: pool.stake(a, DSG),
        lambda: pool.request(a, DSG),
        lambda: pool.claim(a),
        lambda: pool.deposit(USD),
    ):
        with boa.reverts("Paused"):
            call()
    s.unpause()
    assert not s.paused()
    with boa.reverts("NotPaused"):
        s.unpause()
    assert pool.claim(a) >= WEEK * USD - 1
    with boa.env.prank(a), boa.reverts("NotAdmin"):
        s.pause()
    with boa.env.prank(a), boa.reverts("NotAdmin"):
        s.unpause()


def test_two_step_ownership_moves_the_admin(pool):
    s = pool.staking
    new = boa.env.generate_address("new-admin")
    abi_names = {x.get("name") for x in s.abi}
    assert "renounce_ownership" not in abi_names  # no way to leave the contract without admin
    s.transfer_ownership(new)
    assert s.owner() == pool.admin and s.pending_owner() == new
    with boa.env.prank(new):
        s.accept_ownership()
        s.setCooldown(DAY)
    assert s.owner() == new
    with boa.reverts("NotAdmin"):
        s.setCooldown(2 * DAY)


def test_abi_and_events_match_the_design():
    from posd.chain import contracts

    items = {(x["type"], x.get("name")): x for x in contracts.abi(contracts.STAKING)}

    def sig(kind, name):
        x = items[(kind, name)]
        return [(i["type"], i.get("indexed", False)) for i in x["inputs"]]

    assert sig("function", "stake") == [("uint256", False)]
    assert sig("function", "requestUnstake") == [("uint256", False)]
    assert sig("function", "withdraw") == []
    assert sig("function", "claimDividends") == []
    assert sig("function", "notifyProfit") == [("uint256", False)]
    assert sig("function", "setTierThresholds") == [("uint256[]", False)]
    for view in ("stakedOf", "tierOf", "earned"):
        assert sig("function", view) == [("address", False)]
        assert [o["type"] for o in items[("function", view)]["outputs"]] == ["uint256"]
    assert sig("function", "tierThresholds") == [("uint256", False)]
    for view in ("cooldown", "rewardsDuration", "profitToken"):
        assert sig("function", view) == []
    assert sig("event", "Staked") == [("address", True), ("uint256", False)]
    assert sig("event", "UnstakeRequested") == [
        ("address", True),
        ("uint256", False),
        ("uint256", False),
    ]
    assert sig("event", "Withdrawn") == [("address", True), ("uint256", False)]
    assert sig("event", "ProfitNotified") == [("uint256", False), ("uint256", False)]
    assert sig("event", "DividendPaid") == [("address", True), ("uint256", False)]
    names = [i["name"] for i in items[("event", "UnstakeRequested")]["inputs"]]
    assert names == ["who", "amount", "availableAt"]
    assert [i["name"] for i in items[("event", "ProfitNotified")]["inputs"]] == [
        "amount",
        "periodFinish",
    ]
