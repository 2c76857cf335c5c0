"""The staking contract as the till reads it (DESIGN §11): ``tierOf(member)``, one view call."""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from posd.chain.rpc import Rpc, RpcError

SEL_TIER_OF = keccak(b"tierOf(address)")[:4]


class NoStakingContract(RpcError):
    """The configured address answers ``tierOf`` with nothing: no staking contract is there
    (a wrong ``[chain] staking_address``, or another chain) — a configuration problem."""


class StakingReader:
    def __init__(self, rpc: Rpc, staking_address: str) -> None:
        self.rpc = rpc
        self.address = to_checksum_address(staking_address)

    def tier_of(self, member: str, block: str = "latest") -> int:
        """``tierOf(member)``; LinkDown when the node is unreachable, RpcError when it refuses
        (or the address holds no staking contract: an empty answer)."""
        data = SEL_TIER_OF + abi_encode(["address"], [to_checksum_address(member)])
        out = self.rpc.call("eth_call", {"to": self.address, "data": "0x" + data.hex()}, block)
        raw = bytes.fromhex(str(out or "0x")[2:])
        if len(raw) < 32:
            raise NoStakingContract("eth_call", -1, f"no staking contract at {self.address}")
        return int(abi_decode(["uint256"], raw[:32])[0])
