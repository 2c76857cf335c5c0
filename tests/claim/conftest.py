"""Fixtures of the claim page tests: the page's node modules, a `posd run --simulate` daemon with
its gateway, headless Debian Chromium at 360x640, and a test wallet behind an injected EIP-1193
provider (requests reach it through a playwright binding, so the page's only network peer stays
the gateway)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers.browser import CHROMIUM, launch, open_page
from helpers.daemon_util import Client, posd_cli, start_simulate, stop
from helpers.wait import wait_for

from posd.proof.claimcode import ClaimPayload

ROOT = Path(__file__).resolve().parents[2]
CLAIM = ROOT / "claim"
ARTIFACTS = Path(os.environ.get("POSD_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "claim"
PHONE = {"width": 360, "height": 640}


@pytest.fixture(scope="session")
def claim_node() -> str:
    """`node`, with claim/'s dependencies installed (scripts/setup.sh runs `npm ci` in claim/)."""
    node = shutil.which("node")
    assert node, "node is not on PATH (Node 20 is part of the toolchain, README)"
    assert (CLAIM / "node_modules" / "viem").is_dir(), "claim/node_modules missing: run setup.sh"
    return node


def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call; returns the whole answer (``result`` or ``error``)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    req = urllib.request.Request(url, data=body.encode(), method="POST")
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def rpc_result(url: str, method: str, params: list[Any] | None = None) -> Any:
    answer = rpc(url, method, params)
    assert "error" not in answer, (method, answer["error"])
    return answer["result"]


def balance_of(rpc_url: str, token: str, who: str) -> int:
    data = "0x70a08231" + who[2:].lower().rjust(64, "0")
    return int(rpc_result(rpc_url, "eth_call", [{"to": token, "data": data}, "latest"]), 16)


@dataclass
class Sim:
    """A running `posd run --simulate` with its gateway (the lines it printed, its settings)."""

    proc: subprocess.Popen
    state: Path
    lines: dict[str, str]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.lines["api"]

    @property
    def gateway(self) -> str:
        return self.lines["gateway"].rstrip("/")

    @property
    def rpc(self) -> str:
        return self.lines["rpc"]

    @property
    def client(self) -> Client:
        """The till API with the bearer token."""
        return Client(self.api, self.lines["token"])

    def sell(self, code: str = "4006381333931", qty: int = 2) -> str:
        """A cash sale through the till API; its claim URL."""
        status, body = self.client.post("/api/scan", {"code": code, "qty": qty})
        assert status == 200, body
        status, body = self.client.post("/api/sale/pay", {"tender": "cash", "amount": 100_000})
        assert status == 200 and body.get("claim_url"), body
        return body["claim_url"]

    def flush(self) -> None:
        """`posd flush`: the backlog goes to the chain now (the daemon's own timer is a day)."""
        proc = posd_cli("--state-dir", str(self.state), "flush", timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def receipt(self, till: str, seq: int) -> dict[str, Any]:
        status, body = Client(self.gateway, None).get(f"/api/receipts/{till}/{seq}")
        assert status == 200, body
        return body

    def wait_receipt(self, till: str, seq: int, state: str, timeout: float = 60) -> dict:
        return wait_for(
            lambda: (body := self.receipt(till, seq))["state"] == state and body,
            timeout,
            what=f"receipt {till}/{seq} to be {state}",
            every=0.5,
        )

    def claimable(self, code: str, qty: int) -> tuple[str, ClaimPayload, dict[str, Any]]:
        """A cash sale flushed until its receipt is claimable: its URL, payload and status."""
        claim_url = self.sell(code, qty)
        p = ClaimPayload.from_url(claim_url)
        self.flush()
        return claim_url, p, self.wait_receipt(p.till, p.seq, "claimable")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    """`posd run --simulate` whose flusher waits a day: a receipt is pending until `Sim.flush`."""
    state = tmp_path_factory.mktemp("sim")
    config = state / "posd.toml"
    config.write_text("[chain]\nflush_interval_s = 86400\n")
    proc, lines = start_simulate(state, "--config", str(config), timeout=120)
    try:
        settings = json.loads((state / "simulate.json").read_text())
        assert "gateway" in lines, f"posd run --simulate printed no gateway: line: {lines}"
        yield Sim(proc, state, lines, settings)
    finally:
        stop(proc)


class TestWallet:
    """An EIP-1193 wallet backed by a test key: it signs itself (eth-account) and sends raw
    transactions to anvil; every other request is forwarded to anvil's RPC."""

    __test__ = False

    def __init__(self, rpc_url: str, key: bytes | None = None) -> None:
        from eth_account import Account

        self.rpc_url = rpc_url
        self.account = Account.from_key(key) if key else Account.create()
        self.address = self.account.address
        self.calls: list[str] = []
        self.sent: list[str] = []
        rpc_result(rpc_url, "anvil_setBalance", [self.address, hex(10**20)])

    def handle(self, request_json: str) -> str:
        req = json.loads(request_json)
        method, params = req["method"], req.get("params") or []
        self.calls.append(method)
        try:
            result = self._dispatch(method, params)
        except RpcError as err:
            return json.dumps({"error": err.error})
        return json.dumps({"result": result})

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.address]
        if method == "eth_signTypedData_v4":
            from eth_account.messages import encode_typed_data

            assert params[0].lower() == self.address.lower()
            typed = json.loads(params[1]) if isinstance(params[1], str) else params[1]
            signed = self.account.sign_message(encode_typed_data(full_message=typed))
            return "0x" + signed.signature.hex().removeprefix("0x")
        if method == "eth_sendTransaction":
            return self._send(params[0])
        answer = rpc(self.rpc_url, method, params)
        if "error" in answer:
            raise RpcError(answer["error"])
        return answer["result"]

    def _send(self, tx: dict[str, Any]) -> str:
        assert tx.get("from", self.address).lower() == self.address.lower()
        call = {"from": self.address, "to": tx["to"], "data": tx.get("data", "0x")}
        call["value"] = tx.get("value", "0x0")
        est = rpc(self.rpc_url, "eth_estimateGas", [call])
        if "error" in est:  # a wallet shows the revert instead of sending
            raise RpcError(est["error"])
        block = rpc_result(self.rpc_url, "eth_getBlockByNumber", ["latest", False])
        base = int(block["baseFeePerGas"], 16)
        signed = self.account.sign_transaction(
            {
                "chainId": int(rpc_result(self.rpc_url, "eth_chainId"), 16),
                "nonce": int(
                    rpc_result(self.rpc_url, "eth_getTransactionCount", [self.address, "pending"]),
                    16,
                ),
                "to": tx["to"],
                "data": call["data"],
                "value": int(call["value"], 16),
                "gas": int(est["result"], 16) * 6 // 5,
                "maxFeePerGas": 2 * base + 10**9,
                "maxPriorityFeePerGas": 10**9,
                "type": 2,
            }
        )
        raw = "0x" + signed.raw_transaction.hex().removeprefix("0x")
        tx_hash = rpc_result(self.rpc_url, "eth_sendRawTransaction", [raw])
        self.sent.append(tx_hash)
        return tx_hash


class RpcError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.error = error


PROVIDER_SHIM = """
(() => {
  const listeners = {};
  window.ethereum = {
    isPosdTestWallet: true,
    async request({ method, params }) {
      const answer = JSON.parse(await window.__testWallet(JSON.stringify({ method, params: params || [] })));
      if (answer.error) {
        const err = new Error(answer.error.message);
        err.code = answer.error.code;
        err.data = answer.error.data;
        throw err;
      }
      return answer.result;
    },
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
  };
})();
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail("/usr/bin/chromium missing (apt-get install -y chromium; scripts/setup.sh)")
    with launch() as b:
        yield b


@dataclass
class Phone:
    """A 360x640 page; every URL it requested, and its JavaScript errors."""

    page: Any
    requests: list[str]
    errors: list[str]

    def shot(self, name: str) -> Path:
        self.fits_the_phone()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def fits_the_phone(self) -> None:
        """Nothing wider than the 360 px screen (no sideways scrolling)."""
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide on a 360 px screen"

    def state(self) -> str | None:
        return self.page.get_attribute("[data-testid=state]", "data-state")

    def wait_state(self, state: str, timeout_ms: int = 30_000) -> None:
        from playwright.sync_api import expect

        expect(self.page.locator("[data-testid=state]")).to_have_attribute(
            "data-state", state, timeout=timeout_ms
        )

    def foreign_requests(self, origin: str) -> list[str]:
        return [u for u in self.requests if not u.startswith(origin + "/")]


@pytest.fixture
def phone(browser: Any) -> Iterator[Phone]:
    size = (PHONE["width"], PHONE["height"])
    page = open_page(browser, size, 15_000, device_scale_factor=2, is_mobile=True)
    phone = Phone(page, [], page.js_errors)
    page.on("request", lambda r: phone.requests.append(r.url))
    try:
        yield phone
        assert not phone.errors, f"JavaScript errors on the page: {phone.errors}"
    finally:
        page.context.close()


def with_wallet(phone: Phone, wallet: TestWallet) -> None:
    """Inject the EIP-1193 provider before the page's scripts run."""
    phone.page.expose_function("__testWallet", wallet.handle)
    phone.page.add_init_script(PROVIDER_SHIM)


@pytest.fixture(scope="session")
def kit() -> Any:
    """This conftest's helpers for the test modules (test modules never import a conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        rpc=rpc,
        rpc_result=rpc_result,
        balance_of=balance_of,
        TestWallet=TestWallet,
        with_wallet=with_wallet,
    )
