"""Helpers of the gateway tests (no tests here): a real anvil with the contracts, a till that
commits batches, receipts signed as the claim page signs them, a gateway over HTTP."""

from __future__ import annotations

import json
import os
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from eth_account import Account
from helpers.wait import wait_for as _wait_for
from web3 import Web3

from posd import proof
from posd.chain import contracts
from posd.chain.devchain import DEV_KEYS, Anvil
from posd.config.features import GatewayConfig
from posd.gateway.service import Gateway, GatewayTarget, start_http
from posd.proof.claimcode import address_of, claim_key

STORE = "Corner Shop"
RATE = 10**16
T0 = 1_764_000_000
RELAYER_KEY = DEV_KEYS[4]


@dataclass
class World:
    anvil: Anvil
    w3: Web3
    mining: Any
    token: Any
    admin: Any
    till: Any
    seed: bytes = field(default_factory=lambda: os.urandom(32))
    leaves: dict[int, proof.Leaf] = field(default_factory=dict)

    @classmethod
    def create(cls, anvil: Anvil) -> World:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 30}))
        admin = Account.from_key(DEV_KEYS[0])
        token, mining = contracts.deploy(w3, admin)
        contracts.register_store(w3, admin, mining, STORE, admin.address, "EUR", 10**15, rate=RATE)
        till = Account.create()
        anvil.rpc("anvil_setBalance", till.address, hex(10**21))
        contracts.add_till_with_key(w3, admin, mining, STORE, bytes(till.key))
        return cls(anvil, w3, mining, token, admin, till)

    def commit(self, amounts: list[int]) -> list[proof.Leaf]:
        first = self.mining.functions.nextSeq(self.till.address).call()
        leaves = [
            proof.Leaf(
                self.till.address,
                first + i,
                a,
                T0 + first + i,
                address_of(claim_key(self.seed, self.till.address, first + i)),
            )
            for i, a in enumerate(amounts)
        ]
        call = self.mining.functions.commitBatch(first, proof.encode_records(leaves))
        contracts.send(self.w3, self.till, call)
        for leaf in leaves:
            self.leaves[leaf.seq] = leaf
        return leaves

    def claim_body(self, seq: int, recipient: str, signed_for: str | None = None) -> dict:
        """What the page POSTs: the receipt key signs Claim(till, seq, recipient)."""
        digest = proof.claim_digest(
            31337, self.mining.address, self.till.address, seq, signed_for or recipient
        )
        sig = proof.sign_digest(claim_key(self.seed, self.till.address, seq), digest)
        return {
            "till": self.till.address,
            "seq": seq,
            "recipient": recipient,
            "signature": "0x" + sig.hex(),
        }

    def claimed_logs(self) -> list[Any]:
        """The chain's Claimed events of this world's till, oldest first."""
        return self.mining.events.Claimed().get_logs(
            argument_filters={"till": self.till.address}, from_block=0
        )

    def is_claimed(self, seq: int) -> bool:
        return self.mining.functions.isClaimed(self.till.address, seq).call()

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(address)

    def dsg(self, address: str) -> int:
        return self.token.functions.balanceOf(address).call()


def gateway_config(**kw: Any) -> GatewayConfig:
    cfg = GatewayConfig(claims_per_minute=100_000, poll_interval_s=0.2, bump_after_s=1.0)
    for key, value in kw.items():
        setattr(cfg, key, value)
    return cfg


class RunningGateway:
    """A gateway in this process: HTTP on a free loopback port, its loop on a thread."""

    def __init__(
        self,
        world: World,
        state: Path,
        key: str = RELAYER_KEY,
        page_dir: Path | None = None,
        rpc_url: str | None = None,
        **cfg: Any,
    ) -> None:
        self.account = Account.from_key(key)
        target = GatewayTarget(
            rpc_url or world.anvil.url, world.mining.address, self.account, state
        )
        self.gateway = Gateway(target, gateway_config(**cfg))
        self.gateway.start()
        self.server, self.url = start_http(
            self.gateway, "127.0.0.1:0", page_dir or state / "no-page"
        )

    def stop(self) -> None:
        self.server.stop()
        self.gateway.stop()

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def http(
    method: str,
    url: str,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            status, payload, hdrs = resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        status, payload, hdrs = err.code, err.read(), err.headers
    try:
        decoded = json.loads(payload)
    except ValueError:
        decoded = payload.decode(errors="replace")
    return status, decoded, {k.lower(): v for k, v in hdrs.items()}


def receipt(gw: RunningGateway, world: World, seq: int) -> dict:
    """GET /api/receipts/<till>/<seq> of ``world``'s till on ``gw``; it must answer 200."""
    status, body, _ = http("GET", f"{gw.url}/api/receipts/{world.till.address}/{seq}")
    assert status == 200, body
    return body


def post_many(url: str, bodies: list[dict]) -> list[tuple[int, Any]]:
    out: list[Any] = [None] * len(bodies)

    def one(i: int) -> None:
        status, payload, _ = http("POST", url + "/api/claims", bodies[i])
        out[i] = (status, payload)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


class CountingRpc:
    """A real HTTP hop in front of anvil that counts the JSON-RPC calls going through it (how
    often the gateway asks the node), by method. With ``down`` set it closes every connection
    without an answer: the node is gone."""

    def __init__(self, upstream: str) -> None:
        calls: list[str] = []
        self.calls = calls
        self.down = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if proxy.down:
                    self.close_connection = True
                    return
                parsed = json.loads(body)
                for call in parsed if isinstance(parsed, list) else [parsed]:
                    calls.append(call.get("method", "?"))
                req = urllib.request.Request(
                    upstream, data=body, headers={"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(req, timeout=30) as resp:
                    answer = resp.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def raw_connection(url: str, timeout: float = 10.0) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=timeout)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (or the socket times out)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return data
        except ConnectionResetError:  # it closed with our request unread
            return data
        if not chunk:
            return data
        data += chunk


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    """helpers.wait.wait_for at the gateway tests' pace: every 0.1 s, 20 s unless told."""
    return _wait_for(predicate, timeout, every=0.1)
