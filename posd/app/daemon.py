"""The composition root: builds every service from the config, hands each only what it needs.

Start-up order matters: the database and key file first (nothing sells without them), then the
chain link (only needed to bind a till whose database was lost), then devices and the API, and
``ready`` last — printed on stdout and sent to systemd. No service receives the daemon: the
register, the spooler, the API (through :class:`~posd.app.till_service.LocalTill`), the devices
and the flush scheduler each get their parts; only posd/cli imports this package.
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

from posd.api.app import create_app, pair_url
from posd.api.serve import ServerThread
from posd.app.chainid import ChainId
from posd.app.devices import DeviceHub
from posd.app.drawer import CashDrawer
from posd.app.metrics import Metrics
from posd.app.payments import DsgWiring
from posd.app.tech import TechDesk
from posd.app.till_service import LocalTill
from posd.chain.flush.link import set_link
from posd.chain.rpc import chain_next_seq
from posd.config import keyfile
from posd.config.settings import Config
from posd.db import meta
from posd.db.meta import Meta
from posd.db.outbox import Outbox
from posd.db.sessions import Sessions
from posd.db.store import Store
from posd.errors import Internal
from posd.receipt import stub as payment_stub
from posd.receipt.builder import ReceiptBuilder
from posd.receipt.spooler import Spooler
from posd.till import identity
from posd.till.catalog import DEMO_PRODUCTS, Catalog
from posd.till.events import EventBus
from posd.till.external import ExternalRegister
from posd.till.membership import Membership
from posd.till.sale import Register
from posd.till.seqmark import SeqMark

log = logging.getLogger("posd")


class StartupError(Internal, RuntimeError):
    """The daemon cannot start (a port taken, …): `posd run` prints it and exits 2."""

    code = "startup_failed"
    exit_code = 2


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
    """Owns the services of one till process; ``start()``, ``run_forever()``, ``stop()``."""

    def __init__(self, config: Config, simulate: bool = False) -> None:
        self.config = config
        self.simulate = simulate
        self.bus = EventBus()
        self.stopping = threading.Event()
        self.state_dir = config.state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state_dir, 0o700)
        self.sim = None
        self.devices: DeviceHub | None = None
        self.scheduler = None
        self.server: ServerThread | None = None
        self.metrics = Metrics()

        self.store = Store(config.db_path)
        self.catalog = Catalog(self.store)
        self.outbox = Outbox(self.store)
        self.passphrase = keyfile.read_passphrase(
            config.till.passphrase_file, config.till.passphrase_env
        )
        self.keys = self._load_keys()
        self.chain = ChainId(config, self.store)
        if simulate:
            self._start_simulated_chain()
        self.chain.resolve()
        self.api_token = self._api_token()
        # one high-water mark (§2) for start-up, the guard and the sale writer; stop() closes it
        self.mark = SeqMark.beside(config.key_file, self.keys.address)
        self.keys, self.till_state = identity.ensure_bound(
            self.store,
            self.keys,
            config.key_file,
            self.passphrase,
            self.chain_next_seq,
            config.store.currency,
            mark=self.mark,
        )
        guard = identity.SeqGuard(  # L/H/C again before a sale once the chain was read (§2)
            self.store,
            config.key_file,
            self.passphrase,
            self.mark,
            currency=config.store.currency,
        )
        self.register = Register(
            self.store,
            self.catalog,
            self.keys,
            self.bus,
            config.store.currency,
            config.store.embedded,
            guard=guard,
        )
        self.register.members = Membership(  # membership passes (DESIGN §11)
            self.store, config.membership, config.chain, self.chain.resolve
        )
        store, register, chain = self.store, self.register, self.chain

        def receipts() -> ReceiptBuilder:  # the register's keys: a new seed may come at a sale
            return ReceiptBuilder(config, store, register.keys, chain.resolve() or 0)

        self.devices = DeviceHub(  # built now (no I/O), opened by start(); the printer too
            config.device,
            on_scan=self.register.scan,
            publish=self.bus.publish,
            state_dir=self.state_dir,
            simulate=simulate,
            receipt_profile=config.receipt.profile,
        )
        self.spooler = Spooler(self.store, self.devices.printer(), receipts, self.bus.publish)
        self.stubs = payment_stub.for_config(config, self.devices.printer(), self.bus)  # §10
        self.drawer = CashDrawer(self.devices.drawer, self.store, self.bus.publish)  # §12
        self.register.on_completed = self.drawer.after_sale  # a cash sale opens the drawer
        self.pos_link: ServerThread | None = None
        self.tech = TechDesk(  # the technician page's report, test print, recent events
            config, self.store, self.keys.address, self.devices.printer, self.bus
        )
        self.till = LocalTill(
            config=config,
            store=self.store,
            till=self.keys.address,
            till_state=self.till_state,
            simulate=simulate,
            register=self.register,
            spooler=self.spooler,
            outbox=self.outbox,
            bus=self.bus,
            counters=self.metrics,
            chain_id=self.chain,
            devices=self._device_list,
            on_sale=self._sale_completed,
            shutdown=self.stopping,
            external=ExternalRegister(self.register, self.store),
            drawer=self.drawer,
        )
        self.dsg = DsgWiring(  # paying with DSG (§10): requests + the chain watcher
            config, self.store, self.register, self.till, self.bus, self.chain.resolve, simulate
        )

    # -- start-up pieces ------------------------------------------------------------------------
    def _load_keys(self) -> keyfile.TillKeys:
        path = self.config.key_file
        if self.simulate and self.catalog.count() == 0:
            self.catalog.upsert(DEMO_PRODUCTS)
        if not path.exists() and self.simulate:
            keys = keyfile.generate()
            keyfile.save(path, keys)
            if Meta(self.store).get(meta.TILL_ADDRESS) is None:
                identity.bind_new(self.store, keys)
            return keys
        return keyfile.load(path, self.passphrase)

    def _start_simulated_chain(self) -> None:
        from posd.app.simchain import start_chain_isolated
        from posd.app.simulate import Simulation  # web3 and anvil: only --simulate needs them

        self.sim = Simulation(self.state_dir)
        # the key signs the till's consent; web3 works in a child process (posd/app/simchain.py)
        sim = start_chain_isolated(self.sim, self.config, self.keys)
        chain = self.config.chain
        chain.rpc_url, chain.mining_address = sim.rpc_url, sim.mining_address
        chain.token_address = sim.token_address
        chain.staking_address = chain.staking_address or sim.staking_address  # §11
        chain.profit_token_address = chain.profit_token_address or sim.profit_token_address
        set_link(self.store, "online")
        self.sim.record(
            rpc_url=sim.rpc_url,
            mining_address=sim.mining_address,
            token_address=sim.token_address,
            chain_id=self.chain.resolve(),
        )
        url = self.sim.start_gateway(self.config)  # the claim gateway (§9), a child process
        if "receipt.claim_base_url" not in self.config.explicit:
            self.config.receipt.claim_base_url = url  # a simulated receipt's QR opens its page

    def _api_token(self) -> str:
        if self.config.api.token:
            return self.config.api.token
        if self.sim is not None:
            return self.sim.api_token()
        marks = Meta(self.store)
        token = marks.get(meta.API_TOKEN)
        if token is None:
            token = secrets.token_urlsafe(24)
            marks.set(meta.API_TOKEN, token)
        return token

    @property
    def chain_id(self) -> int | None:
        return self.chain.value

    @property
    def pos_link_port(self) -> int | None:
        """The POS link's bound port while it listens (``[pos_link] listen`` may say port 0)."""
        return self.pos_link.port if self.pos_link is not None else None

    def chain_next_seq(self, till: str) -> int | None:
        return chain_next_seq(self.config.chain.rpc_url, self.config.chain.mining_address, till)

    def _device_list(self) -> list[dict]:
        return self.devices.devices() if self.devices else []

    def _sale_completed(self) -> None:
        """The flush scheduler may want to run early on a large backlog."""
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
        app = create_app(
            self.till,
            self.api_token,
            port=sock.getsockname()[1],
            sessions=Sessions(self.store),
            tech=self.tech,
        )
        self.server = ServerThread(app, sock, "api")
        self.server.start()
        return self.server.port

    def start(self) -> int:
        self.spooler.start()
        if self.stubs is not None:
            self.stubs.start()
        self.dsg.start()  # an open DSG payment is back on the till before a scan or the API
        self._start_devices()
        self._start_scheduler()
        port = self.start_api()
        if self.config.pos_link.listen:  # the shop's own POS, on the LAN (DESIGN §7, §12)
            from posd.app.pos_link import start_pos_link

            self.pos_link = start_pos_link(self.config, self.till)
        if self.sim is not None:
            self.sim.record_api(port)
        # Everything loaded so far lives until exit: keep it out of the cyclic GC's way, so a
        # collection during a scan walks only new objects (p99 scan latency stays < 2 ms).
        gc.collect()
        gc.freeze()
        return port

    def _start_devices(self) -> None:
        if self.devices is not None:
            self.devices.start()

    def _start_scheduler(self) -> None:
        from posd.chain.scheduler import TillScheduler

        self.scheduler = TillScheduler(self.config, self.store, self.keys.private_key)
        self.scheduler.start()

    def run_forever(self) -> None:
        port = self.start()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stopping.set())
        lines = [f"api: http://127.0.0.1:{port}"]
        if self.simulate:  # DESIGN §7: the token is printed only under --simulate
            code = Sessions(self.store).new_code("cashier").code
            lines += [f"token: {self.api_token}", f"pair: {pair_url(port, code)}"]
        if self.config.chain.rpc_url:
            lines.append(f"rpc: {self.config.chain.rpc_url}")
        if self.sim is not None and self.sim.gateway is not None:
            lines.append(f"gateway: {self.sim.gateway.wait_ready()}")
        print("\n".join([*lines, "ready"]), flush=True)
        log.info("till %s ready (%s)", self.keys.address, self.till_state)
        sd_notify("READY=1")
        while not self.stopping.wait(5):
            sd_notify("WATCHDOG=1")
        self.stop()

    def stop(self) -> None:
        sd_notify("STOPPING=1")
        self.stopping.set()
        # the servers first: a request in flight finishes before the services it uses close
        for server in (self.server, self.pos_link):
            if server is not None:
                server.stop()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.devices is not None:
            self.devices.stop()
        self.spooler.stop()
        if self.stubs is not None:
            self.stubs.stop()
        self.drawer.close()
        self.dsg.stop()
        self.register.close()  # the sale writer, the mark's last user
        self.mark.close()
        if self.sim is not None:
            self.sim.stop()
        self.store.close()
