# pragma version ~=0.4.3
# pragma nonreentrancy off
# pragma optimize gas
"""
@title DSG Staking
@notice Stake DSG for membership tiers (DESIGN §11); stakers share the platform's profit, paid in
        a stablecoin (`profitToken`, fixed at deploy) that the admin or a distributor deposits
        with `notifyProfit` and that streams pro rata over `rewardsDuration` (Synthetix
        StakingRewards' model: a per-token accumulator, here scaled by 10^36, no loop over
        holders). Unstaking is two steps: `requestUnstake` moves an amount out of the stake at
        once (it counts neither for the tier nor for dividends from then on) and `withdraw`
        pays it out after `cooldown`. Reverts carry the error name as reason string.
        The admin can `pause` staking, unstake requests, dividend claims and deposits; `withdraw`
        stays open while paused, so a staker can always take back DSG whose cool-down is over.
@dev Profit that streams while nothing is staked is not lost: it is set aside (`unallocated`)
     and streamed again, with what is left of the running stream, over a fresh `rewardsDuration`
     from the next `notifyProfit` or the first stake into the empty pool - or the admin takes it
     back with `recoverProfit`, together with any profit-token surplus (tokens sent without
     `notifyProfit`); what stakers are owed and the rest of the running stream stay. The
     contract keeps an upper bound of what stakers are owed (`owed`, in the pool word: rounded up
     as it streams, down as it is paid) so recovery needs no loop over holders. `recoverToken`
     returns other tokens sent by mistake, and of DSG only what lies above the stake and the
     amounts waiting to unstake.
     A deposit streams what arrived (the balance before and after the transferFrom: a
     fee-on-transfer token streams the net), never more than the balance holds, and may not
     lower the rate of a running stream (`DepositTooSmall`: it must be at least what already
     streamed of it), so a distributor cannot stretch a stream with dust deposits.
     Rounding is always down (the rate, the accumulator, each staker's share), so the sum paid
     never exceeds the sum deposited; the dust left behind is below one unit of the profit token
     per staker action. The rate, the rest of a running stream and the set-aside profit are kept
     scaled by 10^18 (so a small deposit over 7 days does not lose up to 604,799 units to the
     division, as an unscaled rewardRate would, nor a unit per deposit to the rest).
     Gas (hand-packed where it pays, the hot paths are stake and claimDividends):
     - the pool is one slot: totalStaked (96 bits) | lastUpdateTime | periodFinish (35 bits
       each: until the year 3058) | owed (89 bits) | a mirror of the pause flag, so the hot
       paths read the pause state and keep the owed bound without touching another slot;
     - a staker is one slot (staked | unpaid dividends) plus its accumulator checkpoint; unstake
       requests live in their own slot, untouched by stake and claim.
     snekmate supplies the ownership (the admin) and the pause flag with its events; the
     two-step transfer is our own so its reverts carry names (`NotAdmin`, `NotPendingAdmin`).
"""

from ethereum.ercs import IERC20

from snekmate.auth import ownable
from snekmate.utils import pausable

initializes: ownable
initializes: pausable

exports: (
    ownable.owner,
    pausable.paused,
)


event Staked:
    who: indexed(address)
    amount: uint256

event UnstakeRequested:
    who: indexed(address)
    amount: uint256
    availableAt: uint256

event Withdrawn:
    who: indexed(address)
    amount: uint256

event ProfitNotified:
    amount: uint256
    periodFinish: uint256

event DividendPaid:
    who: indexed(address)
    amount: uint256

event Restreamed:
    amount: uint256
    periodFinish: uint256

event TierThresholdsSet:
    thresholds: DynArray[uint256, MAX_TIERS]

event CooldownSet:
    cooldown: uint256

event RewardsDurationSet:
    duration: uint256

event DistributorSet:
    who: indexed(address)
    allowed: bool

event Recovered:
    token: indexed(address)
    to: indexed(address)
    amount: uint256

event OwnershipTransferStarted:
    previous_owner: indexed(address)
    new_owner: indexed(address)


MAX_TIERS: constant(uint256) = 8
# setTierThresholds takes a longer list than allowed, so 9..16 tiers revert "TooManyTiers"
# (not an ABI decoding error); longer ones fail decoding and revert all the same.
MAX_TIERS_INPUT: constant(uint256) = 16
MAX_PERIOD: constant(uint256) = 365 * 86400  # the longest cooldown / rewardsDuration
DEFAULT_PERIOD: constant(uint256) = 7 * 86400
RATE_SCALE: constant(uint256) = 10**18  # the rate is kept in profit units per second * 10^18
ACC_SCALE: constant(uint256) = 10**36  # the per-token accumulator's scale (DESIGN §11)
# what is owed plus one stream (new deposit + the rest of the running one + unallocated) at
# most 2^88 units: rate * seconds * 10^36 never overflows, and `owed` (89 bits) keeps 2^88 of
# headroom for its round-ups (one unit per checkpoint at most)
MAX_STREAM: constant(uint256) = (1 << 88) - 1

MASK35: constant(uint256) = (1 << 35) - 1
MASK89: constant(uint256) = (1 << 89) - 1
MASK96: constant(uint256) = (1 << 96) - 1
MASK128: constant(uint256) = (1 << 128) - 1
# pool word: totalStaked (0..95) | lastUpdateTime (96..130) | periodFinish (131..165)
#            | owed (166..254) | paused mirror (bit 255)
LAST_SHIFT: constant(uint256) = 96
FINISH_SHIFT: constant(uint256) = 131
OWED_SHIFT: constant(uint256) = 166
PAUSED_BIT: constant(uint256) = 1 << 255
TIME_FIELDS: constant(uint256) = ((1 << 70) - 1) << 96

stakingToken: public(immutable(address))
profitToken: public(immutable(address))

cooldown: public(uint256)
rewardsDuration: public(uint256)
rewardPerTokenStored: public(uint256)
userRewardPerTokenPaid: public(HashMap[address, uint256])
isDistributor: public(HashMap[address, bool])
_unallocated: uint256  # streamed while nothing was staked (* RATE_SCALE): for the next stakers
pending_owner: public(address)  # the admin-to-be of a two-step transfer
totalUnstaking: public(uint256)  # DSG waiting out a cool-down (not staked, not yet withdrawn)

_pool: uint256
_rate: uint256  # profit units per second * RATE_SCALE
_acct: HashMap[address, uint256]  # staked (0..127) | unpaid dividends (128..255)
_unstake: HashMap[address, uint256]  # amount waiting (0..127) | availableAt (128..191)
_tiers: DynArray[uint256, MAX_TIERS]


@deploy
def __init__(
    staking_token: address,
    profit_token: address,
    tier_thresholds: DynArray[uint256, MAX_TIERS_INPUT],
):
    """@dev The deployer is the admin; `tier_thresholds` as for setTierThresholds (may be empty)."""
    assert staking_token != empty(address), "BadToken"
    assert profit_token != empty(address), "BadToken"
    assert profit_token != staking_token, "BadToken"
    ownable.__init__()
    pausable.__init__()
    stakingToken = staking_token
    profitToken = profit_token
    self.cooldown = DEFAULT_PERIOD
    self.rewardsDuration = DEFAULT_PERIOD
    self._set_tiers(tier_thresholds)


# ---------------------------------------------------------------- staker


@external
def stake(amount: uint256):
    """@dev transferFrom DSG; counts for the tier and for dividends at once."""
    assert amount != 0, "ZeroAmount"
    pool: uint256 = self._pool
    assert pool & PAUSED_BIT == 0, "Paused"
    pool = self._checkpoint(pool)
    total: uint256 = pool & MASK96
    acct: uint256 = self._settle(msg.sender)
    staked: uint256 = (acct & MASK128) + amount
    assert total + amount <= MASK96, "AmountTooLarge"
    self._acct[msg.sender] = (acct & ~MASK128) | staked
    pool = pool + amount
    if total == 0 and self._unallocated != 0:
        pool = self._restream(pool, 0, 0)  # the empty pool's set-aside profit: for these stakers
    self._pool = pool
    assert extcall IERC20(stakingToken).transferFrom(
        msg.sender, self, amount, default_return_value=True
    ), "TransferFailed"
    log Staked(who=msg.sender, amount=amount)


@external
def requestUnstake(amount: uint256):
    """@dev Takes `amount` out of the stake now (no tier, no dividends for it) and starts the
         cool-down; a further request adds to the amount waiting and starts it again."""
    assert amount != 0, "ZeroAmount"
    pool: uint256 = self._pool
    assert pool & PAUSED_BIT == 0, "Paused"
    pool = self._checkpoint(pool)
    acct: uint256 = self._settle(msg.sender)
    staked: uint256 = acct & MASK128
    assert amount <= staked, "InsufficientStake"
    self._acct[msg.sender] = (acct & ~MASK128) | (staked - amount)
    self._pool = pool - amount
    waiting: uint256 = (self._unstake[msg.sender] & MASK128) + amount
    available_at: uint256 = block.timestamp + self.cooldown
    self._unstake[msg.sender] = waiting | (available_at << 128)
    self.totalUnstaking += amount
    log UnstakeRequested(who=msg.sender, amount=amount, availableAt=available_at)


@external
def withdraw():
    """@dev Pays out everything waiting once its cool-down is over; open while paused (a
         paused contract never holds back DSG whose cool-down has run)."""
    request: uint256 = self._unstake[msg.sender]
    amount: uint256 = request & MASK128
    assert amount != 0, "NothingToWithdraw"
    assert block.timestamp >= request >> 128, "CooldownActive"
    self._unstake[msg.sender] = 0
    self.totalUnstaking -= amount
    assert extcall IERC20(stakingToken).transfer(
        msg.sender, amount, default_return_value=True
    ), "TransferFailed"
    log Withdrawn(who=msg.sender, amount=amount)


@external
def claimDividends():
    """@dev Pays the caller's earned profit tokens."""
    pool: uint256 = self._pool
    assert pool & PAUSED_BIT == 0, "Paused"
    pool = self._checkpoint(pool)
    acct: uint256 = self._settle(msg.sender)
    amount: uint256 = acct >> 128
    assert amount != 0, "NothingToClaim"
    # the owed bound never falls short of a payment (rounded up as it streams); min() all the same
    self._pool = pool - (min(amount, (pool >> OWED_SHIFT) & MASK89) << OWED_SHIFT)
    self._acct[msg.sender] = acct & MASK128
    assert extcall IERC20(profitToken).transfer(
        msg.sender, amount, default_return_value=True
    ), "TransferFailed"
    log DividendPaid(who=msg.sender, amount=amount)


# ---------------------------------------------------------------- profit


@external
def notifyProfit(amount: uint256):
    """@dev The admin or a distributor deposits `amount` profit tokens (transferFrom); what
         arrives (a fee-on-transfer token delivers less) streams over `rewardsDuration` from
         now, together with the rest of a running stream, whose rate it may not lower."""
    assert msg.sender == ownable.owner or self.isDistributor[msg.sender], "NotDistributor"
    assert amount != 0, "ZeroAmount"
    assert self._pool & PAUSED_BIT == 0, "Paused"
    before: uint256 = staticcall IERC20(profitToken).balanceOf(self)
    assert extcall IERC20(profitToken).transferFrom(
        msg.sender, self, amount, default_return_value=True
    ), "TransferFailed"
    after: uint256 = staticcall IERC20(profitToken).balanceOf(self)
    assert after > before, "ZeroAmount"
    received: uint256 = after - before
    # the pool is read after the token's calls: nothing they might do is overwritten
    self._pool = self._restream(self._checkpoint(self._pool), received, after)
    log ProfitNotified(amount=received, periodFinish=block.timestamp + self.rewardsDuration)


# ---------------------------------------------------------------- views


@external
@view
def stakedOf(who: address) -> uint256:
    return self._acct[who] & MASK128


@external
@view
def tierOf(who: address) -> uint256:
    """@dev 0 = none; else the highest i >= 1 with stakedOf(who) >= tierThresholds(i - 1)."""
    staked: uint256 = self._acct[who] & MASK128
    tier: uint256 = 0
    for threshold: uint256 in self._tiers:
        if staked < threshold:
            break
        tier += 1
    return tier


@external
@view
def tierThresholds(i: uint256) -> uint256:
    assert i < len(self._tiers), "NoSuchTier"
    return self._tiers[i]


@external
@view
def tierCount() -> uint256:
    return len(self._tiers)


@external
@view
def tiers() -> DynArray[uint256, MAX_TIERS]:
    """@dev All thresholds at once (DSG wei, ascending): tier i needs tiers()[i - 1]."""
    return self._tiers


@external
@view
def unstakeRequest(who: address) -> (uint256, uint256):
    """@dev (amount waiting, availableAt); (0, 0) when nothing waits."""
    request: uint256 = self._unstake[who]
    if request & MASK128 == 0:
        return 0, 0
    return request & MASK128, request >> 128


@external
@view
def totalStaked() -> uint256:
    return self._pool & MASK96


@external
@view
def lastUpdateTime() -> uint256:
    return (self._pool >> LAST_SHIFT) & MASK35


@external
@view
def periodFinish() -> uint256:
    return (self._pool >> FINISH_SHIFT) & MASK35


@external
@view
def rewardRate() -> uint256:
    """@dev Profit units per second, rounded down (the contract keeps 18 more digits)."""
    return self._rate // RATE_SCALE


@external
@view
def rewardPerToken() -> uint256:
    """@dev The accumulator now: profit units per staked DSG wei, scaled by 10^36."""
    return self._rpt_at(self._pool, self.rewardPerTokenStored)


@external
@view
def unallocated() -> uint256:
    """@dev Profit that streamed while nothing was staked (up to now): it streams again from the
         next deposit or the first stake into the empty pool."""
    pool: uint256 = self._pool
    until: uint256 = min(block.timestamp, (pool >> FINISH_SHIFT) & MASK35)
    last: uint256 = (pool >> LAST_SHIFT) & MASK35
    if pool & MASK96 != 0 or until <= last:
        return self._unallocated // RATE_SCALE
    return (self._unallocated + (until - last) * self._rate) // RATE_SCALE


@external
@view
def earned(who: address) -> uint256:
    acct: uint256 = self._acct[who]
    rpt: uint256 = self._rpt_at(self._pool, self.rewardPerTokenStored)
    owed: uint256 = (acct & MASK128) * (rpt - self.userRewardPerTokenPaid[who]) // ACC_SCALE
    return (acct >> 128) + owed


# ---------------------------------------------------------------- admin


@internal
@view
def _only_admin():
    assert msg.sender == ownable.owner, "NotAdmin"


@external
def setTierThresholds(thresholds: DynArray[uint256, MAX_TIERS_INPUT]):
    """@dev DSG wei per tier, strictly ascending, the first > 0, at most 8 (empty: no tiers)."""
    self._only_admin()
    self._set_tiers(thresholds)


@internal
def _set_tiers(thresholds: DynArray[uint256, MAX_TIERS_INPUT]):
    assert len(thresholds) <= MAX_TIERS, "TooManyTiers"
    previous: uint256 = 0
    tiers: DynArray[uint256, MAX_TIERS] = []
    for threshold: uint256 in thresholds:
        assert threshold != 0, "ZeroThreshold"
        assert threshold > previous, "TiersNotAscending"
        previous = threshold
        tiers.append(threshold)
    self._tiers = tiers
    log TierThresholdsSet(thresholds=tiers)


@external
def setCooldown(seconds: uint256):
    """@dev Applies to later requests; one already waiting keeps its availableAt."""
    self._only_admin()
    assert seconds <= MAX_PERIOD, "PeriodTooLong"
    self.cooldown = seconds
    log CooldownSet(cooldown=seconds)


@external
def setRewardsDuration(seconds: uint256):
    """@dev Only between streams (a running stream keeps its rate and its end)."""
    self._only_admin()
    assert seconds != 0, "ZeroDuration"
    assert seconds <= MAX_PERIOD, "PeriodTooLong"
    assert block.timestamp >= (self._pool >> FINISH_SHIFT) & MASK35, "StreamActive"
    self.rewardsDuration = seconds
    log RewardsDurationSet(duration=seconds)


@external
def setDistributor(who: address, allowed: bool):
    """@dev Grants or revokes the right to deposit profit with notifyProfit."""
    self._only_admin()
    assert who != empty(address), "BadAddress"
    self.isDistributor[who] = allowed
    log DistributorSet(who=who, allowed=allowed)


@external
def pause():
    """@dev Stops stake, requestUnstake, claimDividends and notifyProfit; withdraw stays open (a
         staker can always take back DSG whose cool-down is over), and so does the admin's
         recovery. The stream keeps its schedule: dividends keep accruing, claimable after
         unpause."""
    self._only_admin()
    assert not pausable.paused, "Paused"
    pausable._pause()
    self._pool = self._pool | PAUSED_BIT


@external
def unpause():
    self._only_admin()
    assert pausable.paused, "NotPaused"
    pausable._unpause()
    self._pool = self._pool & ~PAUSED_BIT


@external
def recoverProfit(to: address):
    """@dev The admin takes back the profit tokens nobody is owed: what streamed while nothing
         was staked (`unallocated`) and any surplus (tokens sent without notifyProfit). What
         stakers are owed and the rest of the running stream stay. Open while paused."""
    self._recover(profitToken, to)


@external
def recoverToken(token: address, to: address):
    """@dev The admin takes back tokens sent here by mistake: all of another token; of DSG only
         what lies above the stake and the amounts waiting to unstake; of the profit token what
         recoverProfit takes. Open while paused."""
    self._recover(token, to)


@external
@view
def recoverable(token: address) -> uint256:
    """@dev What recoverProfit / recoverToken would send of `token` now."""
    return self._recoverable(token, self._pool)


@internal
def _recover(token: address, to: address):
    self._only_admin()
    assert to != empty(address), "BadAddress"
    pool: uint256 = self._pool
    if token == profitToken:
        pool = self._checkpoint(pool)
        self._pool = pool
        self._unallocated = 0  # recovered now (beyond the balance it was never there)
    amount: uint256 = self._recoverable(token, pool)
    assert amount != 0, "NothingToRecover"
    assert extcall IERC20(token).transfer(to, amount, default_return_value=True), "TransferFailed"
    log Recovered(token=token, to=to, amount=amount)


@external
def transfer_ownership(new_owner: address):
    """@dev Step one of moving the admin (admin only): `new_owner` becomes the admin when it
         calls accept_ownership; the zero address cancels a pending transfer."""
    self._only_admin()
    self.pending_owner = new_owner
    log OwnershipTransferStarted(previous_owner=ownable.owner, new_owner=new_owner)


@external
def accept_ownership():
    """@dev Step two: the pending admin takes over."""
    assert msg.sender == self.pending_owner, "NotPendingAdmin"
    self.pending_owner = empty(address)
    ownable._transfer_ownership(msg.sender)


# ---------------------------------------------------------------- accounting


@internal
@view
def _rpt_at(pool: uint256, stored: uint256) -> uint256:
    """@dev The accumulator at block time from the pool word and the stored value."""
    total: uint256 = pool & MASK96
    last: uint256 = (pool >> LAST_SHIFT) & MASK35
    until: uint256 = min(block.timestamp, (pool >> FINISH_SHIFT) & MASK35)
    if total == 0 or until <= last:
        return stored
    return stored + (until - last) * self._rate * (ACC_SCALE // RATE_SCALE) // total


@internal
def _checkpoint(pool: uint256) -> uint256:
    """@dev Brings the accumulator up to block time (or sets aside what streamed into an empty
         pool) and returns the pool word with the new lastUpdateTime; the caller stores it."""
    last: uint256 = (pool >> LAST_SHIFT) & MASK35
    until: uint256 = min(block.timestamp, (pool >> FINISH_SHIFT) & MASK35)
    if until <= last:
        return pool
    total: uint256 = pool & MASK96
    rate: uint256 = self._rate
    streamed: uint256 = (until - last) * rate
    if total == 0:
        self._unallocated += streamed  # kept scaled: no dust per checkpoint
    else:
        self.rewardPerTokenStored += streamed * (ACC_SCALE // RATE_SCALE) // total
        # what the stakers were just given, rounded up: the owed bound never falls short
        pool += ((streamed + RATE_SCALE - 1) // RATE_SCALE) << OWED_SHIFT
    return (pool & ~(MASK35 << LAST_SHIFT)) | (until << LAST_SHIFT)


@internal
def _settle(who: address) -> uint256:
    """@dev Credits `who` with what streamed on its stake since its last checkpoint (call after
         _checkpoint) and returns its account word with the dividends updated (not stored)."""
    acct: uint256 = self._acct[who]
    rpt: uint256 = self.rewardPerTokenStored
    paid: uint256 = self.userRewardPerTokenPaid[who]
    if rpt == paid:
        return acct
    self.userRewardPerTokenPaid[who] = rpt
    staked: uint256 = acct & MASK128
    if staked == 0:
        return acct
    owed: uint256 = (acct >> 128) + staked * (rpt - paid) // ACC_SCALE
    assert owed <= MASK128, "AmountTooLarge"
    return staked | (owed << 128)


@internal
def _restream(pool: uint256, amount: uint256, balance: uint256) -> uint256:
    """@dev A new stream from now over rewardsDuration: `amount`, the rest of the running stream
         and the set-aside profit (taken only while someone stakes). Returns the pool word.
         A deposit (`amount` > 0, `balance` the profit tokens held after it) may not lower the
         rate of a running stream, and the stream and what is set aside must fit in the balance
         (Synthetix's check that the rate never promises more than is held; like Synthetix it
         does not subtract what is owed: the owed bound is rounded up, a unit per checkpoint,
         and would refuse an exactly funded stream)."""
    now: uint256 = block.timestamp
    finish: uint256 = (pool >> FINISH_SHIFT) & MASK35
    assert amount <= MAX_STREAM, "ProfitTooLarge"
    rate: uint256 = self._rate
    total: uint256 = amount * RATE_SCALE  # scaled, so the rest of a stream keeps its fraction
    if now < finish:
        total += (finish - now) * rate
    kept: uint256 = self._unallocated  # stays set aside while the pool is empty
    if pool & MASK96 != 0:
        total += kept
        kept = 0
        self._unallocated = 0
    owed: uint256 = ((pool >> OWED_SHIFT) & MASK89) * RATE_SCALE
    assert owed + total <= MAX_STREAM * RATE_SCALE, "ProfitTooLarge"
    duration: uint256 = self.rewardsDuration
    new_rate: uint256 = total // duration
    if amount != 0:
        # at least what already streamed of a running stream: 1-unit deposits cannot stretch it
        assert now >= finish or new_rate >= rate, "DepositTooSmall"
        assert total + kept <= balance * RATE_SCALE, "ProfitExceedsBalance"
    self._rate = new_rate
    finish = now + duration
    if amount == 0:
        log Restreamed(amount=total // RATE_SCALE, periodFinish=finish)
    return (pool & ~TIME_FIELDS) | (now << LAST_SHIFT) | (finish << FINISH_SHIFT)


@internal
@view
def _owed_at(pool: uint256) -> uint256:
    """@dev The owed bound at block time: the stored one plus what streamed to stakers since the
         last checkpoint, rounded up as _checkpoint will."""
    owed: uint256 = (pool >> OWED_SHIFT) & MASK89
    last: uint256 = (pool >> LAST_SHIFT) & MASK35
    until: uint256 = min(block.timestamp, (pool >> FINISH_SHIFT) & MASK35)
    if pool & MASK96 == 0 or until <= last:
        return owed
    return owed + ((until - last) * self._rate + RATE_SCALE - 1) // RATE_SCALE


@internal
@view
def _recoverable(token: address, pool: uint256) -> uint256:
    """@dev What the admin may take of `token`: of the profit token the balance beyond what
         stakers are owed and the rest of the running stream (rounded up); of DSG the balance
         beyond the stake and the amounts waiting to unstake; of any other token all of it."""
    balance: uint256 = staticcall IERC20(token).balanceOf(self)
    reserved: uint256 = 0
    if token == profitToken:
        reserved = self._owed_at(pool)
        finish: uint256 = (pool >> FINISH_SHIFT) & MASK35
        if block.timestamp < finish:
            reserved += ((finish - block.timestamp) * self._rate + RATE_SCALE - 1) // RATE_SCALE
    elif token == stakingToken:
        reserved = (pool & MASK96) + self.totalUnstaking
    if balance <= reserved:
        return 0
    return balance - reserved
