"""The gateway's composition: database, chain views, index, relay, HTTP server, background loop.

`posd gateway` (posd/cli/gateway.py) builds one :class:`Gateway` and calls :func:`serve`, which
prints ``gateway: http://HOST:PORT`` and ``ready`` once it listens and stops cleanly on SIGTERM
(or when ``lifeline`` — its parent's pipe on stdin — closes: a `--simulate` daemon killed with
-9 never leaves its gateway behind).
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from posd.api.serve import ServerThread
from posd.chain.receipt_state import ReceiptState
from posd.chain.rpc import LinkDown, Rpc, RpcError
from posd.chain.sender import Sender, SenderLock
from posd.config.features import GatewayConfig
from posd.db.gateway import GatewayDb
from posd.errors import Internal
from posd.gateway.budget import Budget
from posd.gateway.chain import GatewayChain
from posd.gateway.errors import RelayUnavailable
from posd.gateway.index import EventIndex
from posd.gateway.lookup import IndexedReceipts
from posd.gateway.metrics import GatewayMetrics
from posd.gateway.relay import Relay

log = logging.getLogger("posd.gateway")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PAGE_DIR = REPO_ROOT / "claim" / "dist"


class GatewayStartError(Internal, RuntimeError):
    code = "gateway_start_failed"
    exit_code = 2


class GatewayLock(SenderLock):
    """The flusher's sender lock, on ``<state_dir>/gateway.lock``: one gateway per
    ``gateway.db`` and relayer key, so two never sign with the same nonce. Its own file, as the
    till's flusher may share the state dir (``--simulate``) and sends with another key."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(state_dir)
        self.path = Path(state_dir) / "gateway.lock"


@dataclass(frozen=True)
class GatewayTarget:
    """Where the gateway relays: the node, the mining contract, who pays, where it keeps state."""

    rpc_url: str
    mining: str
    account: LocalAccount
    state_dir: Path
    staking: str | None = None


class Gateway:
    """Owns one gateway's services; ``start()`` begins the index/confirm loop."""

    def __init__(self, target: GatewayTarget, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.target = target
        target.state_dir.mkdir(parents=True, exist_ok=True)
        self.lock = GatewayLock(target.state_dir)
        if not self.lock.acquire(0):
            holder = self.lock.holder()
            raise GatewayStartError(
                f"another gateway{f' (pid {holder})' if holder else ''} is already running on "
                f"{target.state_dir}: two would sign claims with the same nonces. Stop it, or "
                "give this one its own state dir ([gateway] state_dir)"
            )
        try:
            self._open(target)
        except BaseException:
            self.lock.release()
            raise
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _open(self, target: GatewayTarget) -> None:
        cfg = self.cfg
        self.db = GatewayDb(target.state_dir / "gateway.db")
        self.chain = GatewayChain(Rpc(target.rpc_url, timeout=10.0), target.mining)
        try:
            if not self.chain.has_code(self.chain.address):
                raise GatewayStartError(f"no contract at {target.mining} on {target.rpc_url}")
            self.token = self.chain.token()
            self.chain.chain_id()
        except (LinkDown, RpcError) as exc:
            self.db.close()
            raise GatewayStartError(f"cannot read the chain at {target.rpc_url}: {exc}") from None
        self.metrics = GatewayMetrics()
        self.index = EventIndex(
            self.db, self.chain, cfg.log_range, cfg.from_block, cfg.confirmations
        )
        self.receipts = IndexedReceipts(self.db, self.chain)
        sender = Sender(target.account, Rpc(target.rpc_url, timeout=10.0), cfg.max_fee_gwei)
        self.budget = Budget(
            self.db,
            self.chain,
            target.account.address,
            stores=cfg.stores,
            min_amount=cfg.min_amount,
            gas_budget_wei=cfg.gas_budget_wei,
            min_balance_wei=cfg.min_balance_wei,
        )
        self.relay = Relay(
            self.db,
            self.chain,
            sender,
            self.receipts,
            self.budget,
            self.metrics,
            bump_after_s=cfg.bump_after_s,
            confirmations=cfg.confirmations,
        )

    # -- GatewayPort ----------------------------------------------------------------------------
    def config_json(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain.chain_id(),
            "mining": self.chain.address,
            "token": self.token,
            "staking": self.target.staking or None,
        }

    def receipt(self, till: str, seq: int) -> ReceiptState:
        try:
            return self.receipts.state(till, seq)
        except (LinkDown, RpcError) as exc:  # §9: a node outage is relay_unavailable, never 500
            log.warning("event=lookup_node_down error=%s", exc.code)
            raise RelayUnavailable(
                "the node this gateway reads the chain through is unreachable; try again in a "
                "minute"
            ) from None

    def relay_state(self, till: str, seq: int) -> dict[str, Any] | None:
        row = self.db.claim(till, seq)
        if row is None:
            return None
        return {"state": row.state, "tx_hash": row.tx_hash, "recipient": row.recipient}

    def submit(self, body: Any, client: str) -> dict[str, str]:
        return self.relay.submit(body, client)

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        self.index.try_sync()
        resent = self.relay.resume()
        if resent:
            log.info("event=resumed open_claims=%d", resent)
        self._thread = threading.Thread(target=self._loop, name="gateway-loop", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self.stopping.wait(self.cfg.poll_interval_s):
            try:
                # the relay first: a claim it marks mined is then in the index's range too
                self.relay.tick()
                block = self.index.try_sync()
                if block is not None:
                    self.metrics.indexed_block.set(block)
                self.metrics.balance.set(self.budget.balance())
            except (LinkDown, RpcError) as exc:
                log.warning("event=loop_error error=%s", type(exc).__name__)
            except Exception:  # noqa: BLE001 - the loop must survive; the log says what broke
                log.exception("event=loop_crash")

    def stop(self) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.db.close()
        self.lock.release()


class KeyValueFormatter(logging.Formatter):
    """``ts=… level=… logger=… event=…``: one line per event, no secrets are ever passed in."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        text = f"ts={stamp}Z level={record.levelname.lower()} logger={record.name} "
        text += record.getMessage()
        if record.exc_info:
            text += " traceback=" + repr(self.formatException(record.exc_info))
        return text


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("uvicorn.access").disabled = True  # paths may carry till/seq, not keys,
    # but each claim is logged once by the relay already


def bind(listen: str) -> socket.socket:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        raise GatewayStartError(f"cannot listen on {listen}: {exc.strerror}") from None
    return sock


def start_http(gateway: Gateway, listen: str, page_dir: Path) -> tuple[ServerThread, str]:
    """The HTTP server on its own thread, listening once this returns: (server, url)."""
    from posd.gateway.app import create_app
    from posd.gateway.http import server_options

    sock = bind(listen)
    host, port = sock.getsockname()[:2]
    app = create_app(
        gateway,
        page_dir=page_dir,
        claims_per_minute=gateway.cfg.claims_per_minute,
        lookups_per_minute=gateway.cfg.lookups_per_minute,
        request_timeout_s=gateway.cfg.request_timeout_s,
        trusted_proxies=gateway.cfg.trusted_proxies,
        cors_origins=gateway.cfg.cors_origins,
    )
    server = ServerThread(
        app, sock, "http", daemon=False, **server_options(gateway.cfg.request_timeout_s)
    )
    if not server.start():
        server.stop()
        raise GatewayStartError(f"the HTTP server did not start on {listen}")
    shown = f"[{host}]" if ":" in host else host
    return server, f"http://{shown}:{port}"


def serve(gateway: Gateway, listen: str, page_dir: Path, lifeline: bool = False) -> None:
    """Run until SIGTERM / SIGINT (or the lifeline closes); prints the gateway and ready lines."""
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if lifeline:
        threading.Thread(target=_watch_stdin, args=(stop,), name="lifeline", daemon=True).start()
    gateway.start()
    server, url = start_http(gateway, listen, page_dir)
    print(f"gateway: {url}", flush=True)
    print("ready", flush=True)
    log.info("event=ready url=%s relayer=%s", url, gateway.target.account.address)
    while not stop.wait(1.0):
        if not server.alive():
            break
    server.stop()
    gateway.stop()
    log.info("event=stopped")


def _watch_stdin(stop: threading.Event) -> None:
    """The parent holds our stdin's other end: EOF means it is gone (even after kill -9)."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    stop.set()
