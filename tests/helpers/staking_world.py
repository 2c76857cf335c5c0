"""titanoboa deployments of DSGStaking with its two tokens, for the staking contract tests.

The staking token here is a plain snekmate ERC-20 (TestStable's source, 18 decimals would do
as well): the staking contract only calls transfer/transferFrom, and the real DSG token can
only be minted by the mining contract, which would make every test commit and claim receipts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import boa

ROOT = Path(__file__).resolve().parents[2]
STAKING_SRC = ROOT / "contracts" / "DSGStaking.vy"
STABLE_SRC = ROOT / "contracts" / "TestStable.vy"
DSG = 10**18
USD = 10**6
DAY = 86400
WEEK = 7 * DAY
T0 = 1_764_000_000


@cache
def staking_deployer():
    return boa.load_partial(str(STAKING_SRC))


@cache
def stable_deployer():
    return boa.load_partial(str(STABLE_SRC))


def now() -> int:
    return boa.env.evm.patch.timestamp


def warp(seconds: int) -> None:
    """Move block time forward (one block per call)."""
    boa.env.time_travel(seconds=seconds)


def logs_named(contract, name: str) -> list:
    return [e for e in contract.get_logs() if type(e).__name__ == name]


@dataclass
class Pool:
    staking: object
    dsg: object  # the staked token (a snekmate ERC-20 standing in for DSG)
    usd: object  # the 6-decimal profit token
    admin: str

    @classmethod
    def create(cls) -> Pool:
        boa.env.evm.patch.timestamp = T0
        admin = boa.env.eoa
        dsg = stable_deployer().deploy(0)
        usd = stable_deployer().deploy(0)
        staking = staking_deployer().deploy(dsg.address, usd.address, [])
        return cls(staking, dsg, usd, admin)

    def staker(self, name: str, dsg: int = 10**9 * DSG) -> str:
        """A new address holding ``dsg`` wei of the staked token, staking contract approved."""
        who = boa.env.generate_address(name)
        self.dsg.mint(who, dsg)
        with boa.env.prank(who):
            self.dsg.approve(self.staking.address, 2**256 - 1)
        return who

    def stake(self, who: str, amount: int) -> None:
        with boa.env.prank(who):
            self.staking.stake(amount)

    def request(self, who: str, amount: int) -> None:
        with boa.env.prank(who):
            self.staking.requestUnstake(amount)

    def withdraw(self, who: str) -> None:
        with boa.env.prank(who):
            self.staking.withdraw()

    def claim(self, who: str) -> int:
        """claimDividends; returns what ``who`` received."""
        before = self.usd.balanceOf(who)
        with boa.env.prank(who):
            self.staking.claimDividends()
        return self.usd.balanceOf(who) - before

    def deposit(self, amount: int, sender: str | None = None) -> None:
        """notifyProfit(amount) by the admin (or ``sender``), minting the profit tokens first."""
        sender = sender or self.admin
        self.usd.mint(sender, amount)
        with boa.env.prank(sender):
            self.usd.approve(self.staking.address, amount)
            self.staking.notifyProfit(amount)
