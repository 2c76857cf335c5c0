"""Wiring of DSG payments (DESIGN §10): the requests service and the chain watcher, each given
only what it needs — the watcher an Rpc, the payments tables, its [dsg]/[chain] settings and a
callback; the service the register, the price source and the event bus."""

from __future__ import annotations

import logging
from collections.abc import Callable

from eth_account import Account

from posd.app.till_service import LocalTill
from posd.chain.devchain import DEV_KEYS
from posd.chain.rpc import Rpc
from posd.chain.watch.payments import TransferWatcher
from posd.config.settings import Config
from posd.db.payments import Payments
from posd.db.store import Store
from posd.receipt.layout import minor_digits
from posd.till.dsg.price import PriceSource
from posd.till.dsg.service import DsgPayments, DsgSettings
from posd.till.events import EventBus
from posd.till.sale import Register

log = logging.getLogger("posd.app.payments")
# --simulate: the store's payout account. DEV_KEYS[0] deploys (admin), DEV_KEYS[9] pays the
# gateway's gas (posd/app/sim_gateway.py); the till signs with its own key file. 8 is the payout
# of the DSG tests too (tests/helpers/dsg_kit.py).
SIMULATED_PAYOUT_KEY = DEV_KEYS[8]


class DsgWiring:
    """Builds both parts; ``start`` restores an open request, then watches the chain."""

    def __init__(
        self,
        config: Config,
        store: Store,
        register: Register,
        till: LocalTill,
        bus: EventBus,
        chain_id: Callable[[], int | None],
        simulate: bool = False,
    ) -> None:
        dsg, chain = config.dsg, config.chain
        if simulate and not dsg.payout_address:
            dsg.payout_address = Account.from_key(SIMULATED_PAYOUT_KEY).address
        if simulate and not dsg.rate and not dsg.price_feed:
            dsg.rate = chain.reward_rate
        self.db = Payments(store)
        rpc = Rpc(chain.rpc_url, timeout=5.0) if chain.rpc_url else None
        self.watcher: TransferWatcher | None = None
        settings = DsgSettings(
            payout_address=dsg.payout_address,
            till_slot=dsg.till_slot,
            discount_percent=dsg.discount_percent,
            payment_timeout_s=dsg.payment_timeout_s,
            currency=config.store.currency,
            till_address=register.till,
            token_address=lambda: chain.token_address,
            chain_id=chain_id,
        )
        price = PriceSource(
            dsg.rate, dsg.price_feed, dsg.price_max_age_s, minor_digits(config.store.currency), rpc
        )
        self.payments = DsgPayments(
            self.db,
            register,
            settings,
            price,
            self._link_problem,
            bus.publish,
            on_settled=till.settled,
            claim_url=till.claim_url,
        )
        if rpc is not None and chain.token_address and dsg.payout_address:
            self.watcher = TransferWatcher(
                rpc,
                self.db,
                chain.token_address,
                dsg.payout_address,
                dsg.till_slot,
                self.payments.on_chain,
                confirmations=chain.confirmations,
                finalized=chain.confirm == "finalized",
                max_log_range=dsg.max_log_range,
                poll_interval_s=dsg.poll_interval_s,
                on_tick=self.payments.retry_settles,
            )
        till.dsg = self.payments

    def _link_problem(self) -> str | None:
        if self.watcher is None:
            return "set [chain] rpc_url and token_address"
        return self.watcher.problem()

    def start(self) -> None:
        """Before the scanners start (posd/app/daemon.py): an open request's cart is back on
        the till before the first scan can land on it."""
        try:
            self.payments.restore()
        except Exception:  # noqa: BLE001 - the till sells with other tenders meanwhile
            log.exception("restoring DSG payments failed")
        if self.watcher is not None:
            self.watcher.start()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
