"""The till's link to the chain: a small JSON-RPC client that says clearly *why* a call failed.

The flusher needs three kinds of failure kept apart: the link is down (no route, DNS, timeout,
HTTP 5xx, rate limit: back off and retry, nothing is wrong with the data), the node refused a
request (a JSON-RPC error such as "nonce too low": the sender decides), and a contract revert
(the reason string, e.g. ``SeqMismatch``). web3's exceptions blur these, so this module speaks
JSON-RPC over one ``requests`` session itself (batched calls too) and encodes the four calls the
till makes with eth-abi.
"""

from __future__ import annotations

import itertools
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from posd.chain.batch_search import ChainBatch
from posd.chain.reverts import decode_revert
from posd.errors import PosdError, Unavailable

SEL_COMMIT = keccak(b"commitBatch(uint64,bytes)")[:4]
SEL_COMMIT_FOR = keccak(b"commitBatchFor(address,uint64,bytes,bytes)")[:4]
SEL_NEXT_SEQ = keccak(b"nextSeq(address)")[:4]
SEL_BATCH_COUNT = keccak(b"batchCount(address)")[:4]
SEL_BATCH = keccak(b"batch(address,uint256)")[:4]
TOPIC_BATCH_COMMITTED = (
    "0x" + keccak(b"BatchCommitted(address,uint256,uint64,uint32,bytes32)").hex()
)


class LinkDown(Unavailable, ConnectionError):
    """The node cannot be reached or will not answer now (retry with backoff)."""

    code = "chain_unreachable"


class RpcError(PosdError, RuntimeError):
    """The node answered with a JSON-RPC error.

    ``rpc_code`` is the node's JSON-RPC error code (3: execution reverted) and ``message`` its
    text; ``code`` stays posd's stable error code, like every PosdError.
    """

    code = "rpc_error"
    http_status = 502  # the upstream node refused

    def __init__(self, method: str, rpc_code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{method}: {message} (code {rpc_code})")
        self.method = method
        self.rpc_code = rpc_code
        self.message = message
        self.data = data

    @property
    def revert_reason(self) -> str | None:
        return decode_revert(self.data, self.message)


def is_revert(exc: RpcError) -> bool:
    return exc.rpc_code == 3 or "revert" in exc.message.lower()


class Rpc:
    """JSON-RPC over HTTP with a short timeout; every transport problem becomes LinkDown."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self._ids = itertools.count(1)

    def _post(self, body: Any) -> Any:
        try:
            resp = self.session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:  # refused, DNS, timeout, reset …
            raise LinkDown(f"{type(exc).__name__}: {_short(exc)}") from None
        if resp.status_code == 429:
            raise LinkDown("rate limited (HTTP 429)")
        if resp.status_code >= 500:
            raise LinkDown(f"HTTP {resp.status_code} from the node")
        if resp.status_code >= 400:
            raise LinkDown(f"HTTP {resp.status_code} from the node: {resp.text[:200]}")
        try:
            return resp.json()
        except ValueError:
            raise LinkDown("the node answered something that is not JSON") from None

    def call(self, method: str, *params: Any) -> Any:
        answer = self._post(
            {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        )
        return _result(method, answer)

    def batch(self, calls: list[tuple[str, tuple]]) -> list[Any]:
        """Several calls in one round trip; each element is the result or an RpcError instance."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        body = [
            {"jsonrpc": "2.0", "id": i, "method": m, "params": list(p)}
            for i, (m, p) in zip(ids, calls, strict=True)
        ]
        answer = self._post(body)
        if not isinstance(answer, list):  # some nodes answer a batch with one error object
            return [_as_result(calls[0][0], answer)] * len(calls)
        by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
        out = []
        for i, (m, _p) in zip(ids, calls, strict=True):
            a = by_id.get(i)
            out.append(RpcError(m, -1, "no answer in batch") if a is None else _as_result(m, a))
        return out


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."


def _as_result(method: str, answer: Any) -> Any:
    try:
        return _result(method, answer)
    except RpcError as exc:
        return exc


def _result(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise LinkDown(f"{method}: malformed answer")
    err = answer.get("error")
    if err is not None:
        if isinstance(err, dict):
            code = int(err.get("code", -1))
            message = str(err.get("message", err))
            # -32005 / "limit exceeded": a rate limit spoken in JSON-RPC
            if code == -32005 or "rate limit" in message.lower():
                raise LinkDown(f"{method}: rate limited: {message}")
            raise RpcError(method, code, message, err.get("data"))
        raise RpcError(method, -1, str(err))
    return answer.get("result")


def hexint(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


ZERO_ADDRESS = "0x" + "00" * 20


def address_topic(address: str) -> str:
    """An address as an indexed event topic (32 bytes, left-padded)."""
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def decode_commit(
    to: str | None, sender: str, data: bytes, mining_address: str
) -> tuple[str, int, bytes]:
    """(till, firstSeq, records) of a call ``sender`` made to ``to`` with ``data``: commitBatch
    (the till is the sender) or commitBatchFor, to the mining contract. The one commit decoder:
    the flusher, the gateway and `posd claim` all rebuild batches with it. ValueError for any
    other call."""
    if str(to or "").lower() != mining_address.lower():
        raise ValueError("is not a call to the mining contract")
    if data[:4] == SEL_COMMIT:
        first, leaves = abi_decode(["uint64", "bytes"], data[4:])
        return to_checksum_address(sender), int(first), bytes(leaves)
    if data[:4] == SEL_COMMIT_FOR:
        till, first, leaves, _sig = abi_decode(["address", "uint64", "bytes", "bytes"], data[4:])
        return to_checksum_address(till), int(first), bytes(leaves)
    raise ValueError("is not a commitBatch / commitBatchFor call")


class MiningClient:
    """The mining contract as the till sees it: views, calldata, events."""

    def __init__(self, rpc: Rpc, mining_address: str) -> None:
        self.rpc = rpc
        self.address = to_checksum_address(mining_address)

    def _view(self, data: bytes, block: str | int = "latest") -> bytes:
        tag = hex(block) if isinstance(block, int) else block
        out = self.rpc.call("eth_call", {"to": self.address, "data": "0x" + data.hex()}, tag)
        return bytes.fromhex(out[2:])

    def next_seq(self, till: str, block: str | int = "latest") -> int:
        raw = self._view(SEL_NEXT_SEQ + abi_encode(["address"], [till]), block)
        return int(abi_decode(["uint64"], raw)[0])

    def batch_count(self, till: str, block: str | int = "latest") -> int:
        raw = self._view(SEL_BATCH_COUNT + abi_encode(["address"], [till]), block)
        return int(abi_decode(["uint256"], raw)[0])

    def batch(self, till: str, index: int, block: str | int = "latest") -> ChainBatch:
        raw = self._view(SEL_BATCH + abi_encode(["address", "uint256"], [till, index]), block)
        first, count, root = abi_decode(["uint64", "uint32", "bytes32"], raw)
        return ChainBatch(int(first), int(count), bytes(root))

    @staticmethod
    def commit_calldata(first_seq: int, leaves: bytes) -> bytes:
        return SEL_COMMIT + abi_encode(["uint64", "bytes"], [first_seq, leaves])

    @staticmethod
    def parse_commit_calldata(data: bytes) -> tuple[int, bytes]:
        """(firstSeq, records) of commitBatch calldata (whatever the sender)."""
        if data[:4] != SEL_COMMIT:
            raise ValueError("not a commitBatch call")
        _till, first, leaves = decode_commit(ZERO_ADDRESS, ZERO_ADDRESS, data, ZERO_ADDRESS)
        return first, leaves

    def commit_of(self, tx: dict[str, Any]) -> tuple[str, int, bytes]:
        """(till, firstSeq, records) of a commitBatch / commitBatchFor transaction to this
        contract (``eth_getTransactionByHash``): anyone can rebuild a batch from it (DESIGN §3).
        ValueError for any other transaction."""
        data = bytes.fromhex(str(tx.get("input") or tx.get("data") or "0x")[2:])
        try:
            return decode_commit(tx.get("to"), tx.get("from", ""), data, self.address)
        except ValueError as exc:
            raise ValueError(f"transaction {tx.get('hash')} {exc}") from None

    def batch_events(self, receipt: dict[str, Any], till: str) -> list[dict[str, Any]]:
        """BatchCommitted events of ``till`` in a receipt (normally exactly one)."""
        out = []
        topic_till = address_topic(till)
        for log in receipt.get("logs") or []:
            topics = log.get("topics") or []
            if (
                len(topics) == 2
                and topics[0].lower() == TOPIC_BATCH_COMMITTED
                and topics[1].lower() == topic_till
                and log.get("address", "").lower() == self.address.lower()
            ):
                index, first, count, root = abi_decode(
                    ["uint256", "uint64", "uint32", "bytes32"], bytes.fromhex(log["data"][2:])
                )
                out.append(
                    {
                        "batch_index": int(index),
                        "first_seq": int(first),
                        "count": int(count),
                        "root": bytes(root),
                        "block_number": hexint(log["blockNumber"]),
                        "block_hash": log["blockHash"],
                        "tx_hash": log["transactionHash"],
                    }
                )
        return out

    def commit_logs(self, till: str, from_block: int, to_block: int | str = "latest") -> list[dict]:
        """BatchCommitted logs of ``till`` (for a batch this till has no transaction hash of)."""
        topic_till = address_topic(till)
        logs = self.rpc.call(
            "eth_getLogs",
            {
                "address": self.address,
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block) if isinstance(to_block, int) else to_block,
                "topics": [TOPIC_BATCH_COMMITTED, topic_till],
            },
        )
        return self.batch_events({"logs": logs}, till)


def chain_next_seq(rpc_url: str, mining_address: str, till: str) -> int | None:
    """``nextSeq(till)`` on chain, or None when the chain cannot be read (offline, no contract).

    Used at start-up to bind a till whose database was lost: no seq is issued before this answers.
    """
    if not rpc_url or not mining_address:
        return None
    try:
        return MiningClient(Rpc(rpc_url, timeout=5.0), mining_address).next_seq(
            to_checksum_address(till)
        )
    except (LinkDown, RpcError, ValueError):
        return None
    except Exception:  # noqa: BLE001 - malformed answers: still "cannot read"
        return None
