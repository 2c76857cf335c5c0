# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title Test Stablecoin (tUSD)
@notice A 6-decimal stand-in for the platform's profit stablecoin on dev chains and in tests
        (`posd run --simulate`, `posd chain deploy` without --profit-token). snekmate's ERC-20
        as is: the deployer gets the initial supply and is its owner and first minter. Never
        deploy it on a public chain.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20
implements: IERC20Detailed

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

exports: erc20.__interface__


@deploy
def __init__(initial_supply: uint256):
    """@dev Mints `initial_supply` (units of 10^-6) to the deployer, who can mint more."""
    ownable.__init__()
    erc20.__init__("Test Stable", "tUSD", 6, "Test Stable", "1")
    erc20._mint(msg.sender, initial_supply)
