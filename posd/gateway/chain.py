"""The mining contract as the gateway reads it: raw JSON-RPC views (posd.chain.rpc), no web3.

The claim's dry run is ``eth_estimateGas`` (an ``eth_call`` that also measures): a revert comes
back with the contract's error name, mapped to the gateway's codes, before anything is signed.
"""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from posd.chain.receipt_state import REVERT_CODES
from posd.chain.rpc import MiningClient, Rpc, RpcError, hexint, is_revert
from posd.errors import BadInput, Conflict
from posd.gateway.errors import BadSignature, Paused, RelayUnavailable

CLAIM_TYPES = [
    "address", "uint256", "uint64", "uint48", "uint32", "address", "bytes32[]", "address", "bytes",
]  # fmt: skip
SEL_CLAIM = keccak(("claim(" + ",".join(CLAIM_TYPES) + ")").encode())[:4]


def _sel(signature: str) -> bytes:
    return keccak(signature.encode())[:4]


def claim_calldata(args: tuple) -> bytes:
    return SEL_CLAIM + abi_encode(CLAIM_TYPES, list(args))


def refusal_of(reason: str | None, message: str) -> Exception:
    """The gateway error for a claim's revert reason (DESIGN §9)."""
    code = REVERT_CODES.get(reason or "")
    if code == "paused":
        return Paused("claims are paused on the mining contract; try again later")
    if code == "bad_signature":
        return BadSignature("the contract refused the claim signature")
    if code is not None:
        return Conflict(message, code)
    return RelayUnavailable(f"the claim would revert ({reason or message}): not sent")


class GatewayChain:
    """Views and the claim dry run, over one RPC client."""

    def __init__(self, rpc: Rpc, mining: str) -> None:
        self.rpc = rpc
        self.mining = MiningClient(rpc, mining)
        self.address = self.mining.address
        self._chain_id: int | None = None

    def _view(self, signature: str, types: list[str], args: list, out: list[str]) -> tuple:
        data = _sel(signature) + abi_encode(types, args)
        raw = self.rpc.call("eth_call", {"to": self.address, "data": "0x" + data.hex()}, "latest")
        return abi_decode(out, bytes.fromhex(raw[2:]))

    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = hexint(self.rpc.call("eth_chainId"))
        return self._chain_id

    def is_claimed(self, till: str, seq: int) -> bool:
        return bool(
            self._view("isClaimed(address,uint64)", ["address", "uint64"], [till, seq], ["bool"])[0]
        )

    def till_store(self, till: str) -> str:
        (sid,) = self._view("tillStore(address)", ["address"], [till], ["bytes32"])
        return "0x" + bytes(sid).hex()

    def batch_currency(self, till: str, index: int) -> bytes:
        (cur,) = self._view(
            "batchCurrency(address,uint256)", ["address", "uint256"], [till, index], ["bytes3"]
        )
        return bytes(cur)

    def preview_reward(self, amount: int, currency: bytes) -> int:
        (reward,) = self._view(
            "previewReward(uint256,bytes3)", ["uint256", "bytes3"], [amount, currency], ["uint256"]
        )
        return int(reward)

    def token(self) -> str:
        return to_checksum_address(self._view("token()", [], [], ["address"])[0])

    def balance(self, address: str) -> int:
        return hexint(self.rpc.call("eth_getBalance", address, "latest"))

    def nonce(self, address: str, tag: str = "pending") -> int:
        return hexint(self.rpc.call("eth_getTransactionCount", address, tag))

    def base_fee(self) -> int:
        block = self.rpc.call("eth_getBlockByNumber", "latest", False)
        return hexint(block.get("baseFeePerGas") or 0)

    def has_code(self, address: str, block: int | str = "latest") -> bool:
        tag = hex(block) if isinstance(block, int) else block
        return self.rpc.call("eth_getCode", address, tag) not in ("0x", "", None)

    def block_number(self) -> int:
        return hexint(self.rpc.call("eth_blockNumber"))

    def estimate_claim(self, sender: str, data: bytes) -> int:
        """The claim run as a call (estimateGas): its gas, or the refusal its revert means
        (LinkDown when the node is unreachable)."""
        try:
            return hexint(
                self.rpc.call(
                    "eth_estimateGas",
                    {"from": sender, "to": self.address, "data": "0x" + data.hex()},
                )
            )
        except RpcError as exc:
            if is_revert(exc):
                raise refusal_of(exc.revert_reason, exc.message) from None
            raise RelayUnavailable(f"the node refused the claim's dry run: {exc.message}") from None
        # LinkDown goes up: the relay answers every node outage the same way (relay_unavailable)


def parse_address(value: object, field: str) -> str:
    if not isinstance(value, str) or len(value) != 42 or not value.startswith(("0x", "0X")):
        raise BadInput(f"{field}: expected a 0x-prefixed address of 40 hex digits")
    digits = value[2:]
    try:
        bytes.fromhex(digits)
    except ValueError:
        raise BadInput(f"{field}: expected a 0x-prefixed address of 40 hex digits") from None
    checksummed = to_checksum_address(value)
    if digits not in (digits.lower(), digits.upper()) and digits != checksummed[2:]:
        # mixed case is an EIP-55 checksum: a wrong one means a typo, never silently accepted
        raise BadInput(
            f"{field}: the capital letters do not match the address's EIP-55 checksum; "
            "check it for a typo"
        )
    return checksummed
