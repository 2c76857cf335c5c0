"""Wires the till together: store, keys, catalog, register, printer spooler, devices, chain, API.

Start-up order matters: the database and key file first (nothing sells without them), then the
chain link (only needed to bind a till whose database was lost), then devices and the API, and
``ready`` last — printed on stdout and sent to systemd.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry, Counter, Gauge

from posd import identity
from posd import keys as keyfile
from posd.api import create_app
from posd.catalog import DEMO_PRODUCTS, Catalog
from posd.chain import LinkDown, Rpc, RpcError, chain_next_seq, hexint
from posd.config import Config
from posd.events import EventBus
from posd.flusher import queue_status
from posd.outbox import Outbox
from posd.sale import Register
from posd.spooler import Spooler, known_chain_id
from posd.store import Store

log = logging.getLogger("posd")


class StartupError(RuntimeError):
    pass


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,  # python-escpos calls basicConfig() on import
    )


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) we are ready / alive; a no-op outside systemd."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(addr)
            sock.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)


class Daemon:
    def __init__(self, config: Config, simulate: bool = False) -> None:
        self.config = config
        self.simulate = simulate
        self.bus = EventBus()
        self.stopping = threading.Event()
        self.state_dir = config.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.sim = None
        self.devices = None
        self.scheduler = None
        self.server: uvicorn.Server | None = None
        self.link_state = "unconfigured"
        self.chain_id: int | None = None
        self._setup_metrics()

        self.store = Store(config.db_path)
        self.catalog = Catalog(self.store)
        self.outbox = Outbox(self.store)
        self.passphrase = keyfile.read_passphrase(
            config.till.passphrase_file, config.till.passphrase_env
        )
        self.keys = self._load_keys()
        if simulate:
            from posd.simulate import Simulation

            self.sim = Simulation(self)
            self.sim.prepare()
        self.resolve_chain_id()
        self.api_token = self._api_token()
        self.keys, self.till_state = identity.ensure_bound(
            self.store, self.keys, config.key_file, self.passphrase, self.chain_next_seq
        )
        self.register = Register(
            self.store,
            self.catalog,
            self.keys,
            self.bus,
            config.store.currency,
            config.store.embedded,
        )
        self.spooler = Spooler(self)

    # -- start-up pieces ------------------------------------------------------------------------
    def _load_keys(self) -> keyfile.TillKeys:
        path = self.config.key_file
        if self.simulate and self.catalog.count() == 0:
            self.catalog.upsert(DEMO_PRODUCTS)
        if not path.exists() and self.simulate:
            keys = keyfile.generate()
            keyfile.save(path, keys)
            if self.store.get_meta("till_address") is None:
                identity.bind_new(self.store, keys)
            return keys
        return keyfile.load(path, self.passphrase)

    def _api_token(self) -> str:
        if self.config.api.token:
            return self.config.api.token
        if self.sim is not None:
            return self.sim.api_token()
        token = self.store.get_meta("api_token")
        if token is None:
            token = secrets.token_urlsafe(24)
            self.store.set_meta("api_token", token)
        return token

    def resolve_chain_id(self) -> int | None:
        """The chain id for receipt QRs: config, else remembered, else asked of the node once."""
        if self.chain_id is None:
            self.chain_id = known_chain_id(self.config, self.store)
        if self.chain_id is None and self.config.chain.rpc_url:
            try:
                self.chain_id = hexint(
                    Rpc(self.config.chain.rpc_url, timeout=3.0).call("eth_chainId")
                )
            except (LinkDown, RpcError, ValueError):
                return None  # offline: asked again at the next receipt
            self.store.set_meta("chain_id", self.chain_id)
        return self.chain_id

    def chain_next_seq(self, till: str) -> int | None:
        return chain_next_seq(self.config.chain.rpc_url, self.config.chain.mining_address, till)

    def _setup_metrics(self) -> None:
        self.metrics_registry = CollectorRegistry()
        self.m_sales = Counter("posd_sales", "Sales completed", registry=self.metrics_registry)
        self.m_queue = Gauge(
            "posd_proofs", "Proofs by state", ["state"], registry=self.metrics_registry
        )
        self.m_print = Gauge(
            "posd_print_jobs_queued",
            "Receipts waiting for the printer",
            registry=self.metrics_registry,
        )

    # -- what the API asks ----------------------------------------------------------------------
    def claim_url(self, seq: int) -> str:
        """The claim URL of a sale, derived again (answered once, to the caller that sold)."""
        row = self.store.one("SELECT amount, time FROM proofs WHERE seq = ?", (seq,))
        if row is None:
            return ""
        return self.spooler.builder().claim_url(seq, row[0], self.config.store.currency, row[1])

    def queue_status(self) -> dict[str, Any]:
        status = queue_status(self.store)
        status["till_state"] = self.till_state
        return status

    def status(self) -> dict[str, Any]:
        return {
            "till": self.keys.address,
            "till_name": self.config.till.name,
            "store": self.config.store.name,
            "state": self.till_state,
            "simulate": self.simulate,
            "devices": self.devices.devices() if self.devices else [],
            "printer": self.spooler.status(),
            "queue": self.queue_status(),
            "chain": {
                "link": self.link_state,
                "rpc_url": self.config.chain.rpc_url,
                "mining_address": self.config.chain.mining_address,
                "chain_id": self.chain_id,
            },
            "sale": self.register.sale.to_json(),
        }

    def refresh_metrics(self) -> None:
        counts = queue_status(self.store)["counts"]
        for state, n in counts.items():
            self.m_queue.labels(state).set(n)
        self.m_print.set(self.spooler.queued())

    def scheduler_hint(self) -> None:
        """A sale completed: count it; the flusher may want to run early on a large backlog."""
        self.m_sales.inc()
        if self.scheduler is not None:
            self.scheduler.sale_completed()

    # -- run ------------------------------------------------------------------------------------
    def start_api(self) -> int:
        port = self.config.api.port
        if self.simulate and "api.port" not in self.config.explicit:
            port = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise StartupError(
                f"[api] port {port}: cannot listen on 127.0.0.1: {exc.strerror}"
            ) from None
        config = uvicorn.Config(
            create_app(self), log_level="warning", access_log=False, lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="api", daemon=True
        ).start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        return sock.getsockname()[1]

    def start(self) -> int:
        self.spooler.start()
        self._start_devices()
        self._start_scheduler()
        port = self.start_api()
        if self.sim is not None:
            self.sim.record(port)
        # Everything loaded so far lives until exit: keep it out of the cyclic GC's way, so a
        # collection during a scan walks only new objects (p99 scan latency stays < 2 ms).
        gc.collect()
        gc.freeze()
        return port

    def _start_devices(self) -> None:
        from posd.devices import DeviceHub

        self.devices = DeviceHub(self)
        self.devices.start()

    def _start_scheduler(self) -> None:
        from posd.scheduler import TillScheduler

        self.scheduler = TillScheduler(self)
        self.scheduler.start()

    def run_forever(self) -> None:
        port = self.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        lines = [f"api: http://127.0.0.1:{port}", f"token: {self.api_token}"]
        if self.config.chain.rpc_url:
            lines.append(f"rpc: {self.config.chain.rpc_url}")
        print("\n".join([*lines, "ready"]), flush=True)
        log.info("till %s ready (%s)", self.keys.address, self.till_state)
        sd_notify("READY=1")
        while not self.stopping.wait(5):
            sd_notify("WATCHDOG=1")
        self.stop()

    def stop(self) -> None:
        sd_notify("STOPPING=1")
        self.stopping.set()
        if self.server is not None:
            self.server.should_exit = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.devices is not None:
            self.devices.stop()
        self.spooler.stop()
        self.register.close()
        if self.sim is not None:
            self.sim.stop()
        self.store.close()
