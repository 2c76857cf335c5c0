"""A loopback HTTP server whose POST answers a test writes as a function: for fake or filtering
JSON-RPC nodes. Real sockets, real HTTP; only the node behind them is the test's."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Answer = Callable[[bytes], tuple[int, bytes]]


@contextmanager
def serve_post(answer: Answer) -> Iterator[str]:
    """Serve ``answer(body) -> (status, body)`` on 127.0.0.1; yields the URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            status, body = answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class TierNode:
    """A fake node for the membership tests: ``eth_chainId`` and a staking contract's ``tierOf``
    (any eth_call, or only one to ``staking`` when given), answered after ``delay`` s; ``empty``:
    the address holds no contract (eth_call answers ``0x``, as a node does for an account).
    Anything else is a JSON-RPC error. Serve it with ``serve_post(node.answer)``."""

    chain_id: int
    tier: int = 2
    delay: float = 0.0
    empty: bool = False
    staking: str | None = None

    def answer(self, body: bytes) -> tuple[int, bytes]:
        req = json.loads(body)
        call = req["params"][0] if req.get("params") else {}
        to = str(call.get("to", "")).lower() if isinstance(call, dict) else ""
        if req["method"] == "eth_chainId":
            out: dict[str, Any] = {"result": hex(self.chain_id)}
        elif req["method"] == "eth_call" and (self.staking is None or self.staking.lower() == to):
            time.sleep(self.delay)
            out = {"result": "0x" if self.empty else "0x" + self.tier.to_bytes(32, "big").hex()}
        else:
            out = {"error": {"code": -32601, "message": "not this node"}}
        return 200, json.dumps({"jsonrpc": "2.0", "id": req.get("id"), **out}).encode()
