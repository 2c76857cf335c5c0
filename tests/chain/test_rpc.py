"""The chain client and the sender's rules without a node: errors, fees, reasons, calldata."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eth_abi import encode as abi_encode
from helpers.http_stub import serve_post

from posd.chain.devchain import free_port
from posd.chain.reverts import revert_reason
from posd.chain.rpc import LinkDown, MiningClient, Rpc, RpcError, decode_revert, is_revert
from posd.chain.sender import GWEI, FeeCapReached, Fees, classify_send_error, replacement_fees
from posd.errors import PosdError, Unavailable


@pytest.fixture
def http_status() -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering every POST with the status at the head of the list."""
    codes = [503]

    def answer(raw: bytes) -> tuple[int, bytes]:
        code = codes[0]
        return code, b'{"jsonrpc":"2.0","id":1,"result":"0x1"}' if code == 200 else b"busy"

    with serve_post(answer) as url:
        yield url, codes


def test_link_down_kinds(http_status: tuple[str, list[int]]) -> None:
    url, codes = http_status
    rpc = Rpc(url, timeout=2)
    for code in (500, 502, 503, 429):
        codes[0] = code
        with pytest.raises(LinkDown):
            rpc.call("eth_chainId")
    codes[0] = 200
    assert rpc.call("eth_chainId") == "0x1"
    with pytest.raises(LinkDown):  # nothing listens
        Rpc(f"http://127.0.0.1:{free_port()}", timeout=1).call("eth_chainId")
    with pytest.raises(LinkDown):  # DNS failure
        Rpc("http://no-such-host.invalid:8545", timeout=2).call("eth_chainId")


def test_revert_reasons() -> None:
    data = "0x08c379a0" + abi_encode(["string"], ["SeqMismatch"]).hex()
    assert decode_revert(data) == "SeqMismatch"
    assert decode_revert({"data": data}) == "SeqMismatch"
    assert decode_revert(None, "execution reverted: CapExceeded") == "CapExceeded"
    assert decode_revert(None, "VM Exception: revert NotTill") == "NotTill"
    assert decode_revert(None, "out of gas") is None
    err = RpcError("eth_call", 3, "execution reverted", data)
    assert err.revert_reason == "SeqMismatch"
    assert is_revert(err) and err.rpc_code == 3 and err.code == "rpc_error"
    assert decode_revert(None, "execution reverted") is None  # no reason given: none made up


def test_one_decoder_for_web3_errors() -> None:
    """web3's ContractLogicError (the admin tools) decodes exactly as the flusher's RpcError."""
    from web3.exceptions import ContractLogicError

    data = "0x08c379a0" + abi_encode(["string"], ["CapExceeded"]).hex()
    assert revert_reason(ContractLogicError("execution reverted", data=data)) == "CapExceeded"
    assert revert_reason(ContractLogicError("execution reverted: BadProof")) == "BadProof"
    assert revert_reason(ContractLogicError("execution reverted")) is None
    assert revert_reason(ValueError("nonce too low")) is None


def test_chain_errors_share_the_root() -> None:
    down = LinkDown("connection refused")
    assert isinstance(down, ConnectionError) and isinstance(down, Unavailable)
    assert down.http_status == 503 and isinstance(RpcError("m", -1, "x"), PosdError)


def test_send_errors_are_classified() -> None:
    assert classify_send_error("already known") == "known"
    assert classify_send_error("nonce too low: next nonce 5, tx nonce 4") == "nonce_low"
    assert classify_send_error("replacement transaction underpriced") == "underpriced"
    assert classify_send_error("insufficient funds for gas * price + value") == "funds"
    assert classify_send_error("something else") == "other"


def test_replacement_raises_fees_by_at_least_an_eighth() -> None:
    old = Fees(max_fee=10 * GWEI, priority_fee=GWEI)
    new = replacement_fees(old, Fees(2 * GWEI, GWEI // 2), cap_wei=100 * GWEI)
    assert new.max_fee * 1000 >= old.max_fee * 1125
    assert new.priority_fee * 1000 >= old.priority_fee * 1125
    market = Fees(40 * GWEI, 3 * GWEI)
    assert replacement_fees(old, market, 100 * GWEI) == market  # the market is higher still
    with pytest.raises(FeeCapReached):
        replacement_fees(Fees(95 * GWEI, GWEI), market, 100 * GWEI)


def test_selector_matches_the_artifact() -> None:
    from web3 import Web3

    from posd.chain import contracts

    mining = contracts.mining_contract(Web3(), "0x" + "11" * 20)
    data = mining.encode_abi("commitBatch", [7, b"\x01" * 60])
    assert bytes.fromhex(data[2:]) == MiningClient.commit_calldata(7, b"\x01" * 60)


def test_commit_calldata_round_trip() -> None:
    data = MiningClient.commit_calldata(7, b"\x01" * 60)
    assert data[:4].hex() == "1a9fc648"  # commitBatch(uint64,bytes)
    assert MiningClient.parse_commit_calldata(data) == (7, b"\x01" * 60)
