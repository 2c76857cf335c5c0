# pragma version ~=0.4.3
# pragma nonreentrancy off
"""
@title DeSpend Token (DSG)
@notice snekmate's ERC-20 (+ EIP-2612 permit, EIP-5267). Only the mining contract mints: the
        minter is an immutable set at deploy (the mining contract creates this token from a
        blueprint in its constructor), so no key can ever add another minter.
"""

from ethereum.ercs import IERC20
from ethereum.ercs import IERC20Detailed

implements: IERC20
implements: IERC20Detailed

from snekmate.auth import ownable
from snekmate.tokens import erc20

initializes: ownable
initializes: erc20[ownable := ownable]

# Everything but snekmate's owner/minter management: minting is fixed to `minter`.
exports: (
    erc20.name,
    erc20.symbol,
    erc20.decimals,
    erc20.totalSupply,
    erc20.balanceOf,
    erc20.allowance,
    erc20.transfer,
    erc20.approve,
    erc20.transferFrom,
    erc20.burn,
    erc20.burn_from,
    erc20.permit,
    erc20.nonces,
    erc20.DOMAIN_SEPARATOR,
    erc20.eip712Domain,
)

minter: public(immutable(address))


@deploy
def __init__(minter_: address):
    assert minter_ != empty(address), "NoMinter"
    ownable.__init__()
    erc20.__init__("DeSpend Token", "DSG", 18, "DeSpend Token", "1")
    minter = minter_


@external
def mint(owner: address, amount: uint256):
    """@dev Only the mining contract; it enforces maxSupply and the halving."""
    assert msg.sender == minter, "NotMinter"
    erc20._mint(owner, amount)
