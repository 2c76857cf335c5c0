"""The chain client and the sender's rules without a node: errors, fees, reasons, calldata."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from eth_abi import encode as abi_encode

from posd.chain import LinkDown, MiningClient, Rpc, RpcError, decode_revert
from posd.devchain import free_port
from posd.sender import GWEI, FeeCapReached, Fees, classify_send_error, replacement_fees


@pytest.fixture
def http_status() -> Iterator[tuple[str, list[int]]]:
    """A local HTTP server answering every POST with the status at the head of the list."""
    codes = [503]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            code = codes[0]
            body = b'{"jsonrpc":"2.0","id":1,"result":"0x1"}' if code == 200 else b"busy"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", codes
    server.shutdown()


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

    from posd import contracts

    mining = contracts.mining_contract(Web3(), "0x" + "11" * 20)
    data = mining.encode_abi("commitBatch", [7, b"\x01" * 60])
    assert bytes.fromhex(data[2:]) == MiningClient.commit_calldata(7, b"\x01" * 60)


def test_commit_calldata_round_trip() -> None:
    data = MiningClient.commit_calldata(7, b"\x01" * 60)
    assert data[:4].hex() == "1a9fc648"  # commitBatch(uint64,bytes)
    assert MiningClient.parse_commit_calldata(data) == (7, b"\x01" * 60)
