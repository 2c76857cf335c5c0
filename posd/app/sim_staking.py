"""`--simulate`'s staking (DESIGN §11): DSGStaking over the simulated DSG token, dividends in a
6-decimal test stablecoin, both by anvil's first dev account (deployer, admin, stablecoin minter).

Runs inside ``Simulation.start_chain`` (the web3 child, posd/app/simchain.py). A state dir from
before staking existed, or whose chain lost the contract (or whose mining contract, hence DSG
token, was deployed anew) gets a fresh deployment on its next start.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from posd.chain import contracts

if TYPE_CHECKING:
    from web3 import Web3

log = logging.getLogger("posd.app.sim_staking")
DSG = 10**18
# what the simulated admin holds to try `posd chain deposit-profit` at once: 1,000,000 tUSD
ADMIN_STABLE = 1_000_000 * 10**6


def ensure_staking(
    w3: Web3, admin: Any, token_address: str, staking: str, profit_token: str
) -> tuple[str, str]:
    """(staking, profit token) addresses on this chain: the recorded/configured ones when they
    still hold the right contracts, else deployed now with the default tiers (100 / 1,000 /
    10,000 DSG)."""
    if staking and _is_staking_for(w3, staking, token_address):
        return staking, contracts.staking_contract(w3, staking).functions.profitToken().call()
    if not (profit_token and w3.eth.get_code(w3.to_checksum_address(profit_token))):
        profit_token = contracts.deploy_test_stable(w3, admin, ADMIN_STABLE).address
    tiers = [t * DSG for t in contracts.DEFAULT_TIERS_DSG]
    deployed = contracts.deploy_staking(w3, admin, token_address, profit_token, tiers)
    log.info(
        "deployed the staking contract at %s (profit token %s)", deployed.address, profit_token
    )
    return deployed.address, profit_token


def _is_staking_for(w3: Web3, staking: str, token_address: str) -> bool:
    address = w3.to_checksum_address(staking)
    if not w3.eth.get_code(address):
        return False
    try:
        staked = contracts.staking_contract(w3, address).functions.stakingToken().call()
    except Exception:  # noqa: BLE001 - some other contract at that address: deploy anew
        return False
    return staked.lower() == token_address.lower()
