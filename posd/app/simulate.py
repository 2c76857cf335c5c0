"""`posd run --simulate`: its own anvil, contracts deployed on first start, settings recorded.

Everything lives in the state dir, so a power cut (kill -9 of the daemon and its anvil) leaves
nothing that blocks the next start: anvil's state is dumped every second and a corrupt dump is
moved aside; contracts missing from the chain are deployed again.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posd.chain import contracts
from posd.chain.devchain import Anvil
from posd.config.keyfile import TillKeys
from posd.config.settings import RECORDED, Config

if TYPE_CHECKING:  # web3 loads only where a function talks to the chain: the till daemon
    from web3 import Web3  # never loads it (posd/app/simchain.py runs start_chain in a child)

log = logging.getLogger("posd.app.simulate")
# anvil's first well-known dev account (mnemonic "test test ... junk"): dev chains only
DEV_ADMIN_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
SETTINGS = RECORDED
DAILY_CAP = 10**15  # minor units: no cap in practice on a demo chain


def settings_path(state_dir: Path) -> Path:
    return state_dir / SETTINGS


def read_settings(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads(settings_path(state_dir).read_text())
    except (OSError, ValueError):
        return {}


def write_settings(state_dir: Path, data: dict[str, Any]) -> None:
    path = settings_path(state_dir)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(tmp, path)


@dataclass(frozen=True)
class SimChain:
    """What ``Simulation.start_chain`` set up: the caller puts it into its [chain] config."""

    rpc_url: str
    mining_address: str
    token_address: str
    staking_address: str = ""  # DSGStaking (DESIGN §11) and its profit stablecoin
    profit_token_address: str = ""


class Simulation:
    """The simulated till's chain and recorded settings, kept in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.settings = read_settings(state_dir)
        self.anvil: Anvil | None = None
        self.gateway: Any = None  # the claim gateway child (posd/app/sim_gateway.py)

    def api_token(self) -> str:
        token = self.settings.get("api_token")
        if not token:
            token = secrets.token_urlsafe(24)
            self.record(api_token=token)
        return token

    def start_chain(self, config: Config, keys: TillKeys) -> SimChain:
        """Start anvil (unless the config names an RPC URL) and make sure the contracts exist.

        ``keys`` signs the till's own JoinStore consent (DESIGN §4): the simulated store adds
        its till the way a real owner would, with `join-request`'s consent.
        """
        till = keys.address
        rpc_url = self.rpc_url(config)
        from eth_account import Account
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
        admin = Account.from_key(DEV_ADMIN_KEY)
        mining_address = config.chain.mining_address or self.settings.get("mining_address", "")
        if not mining_address or not w3.eth.get_code(Web3.to_checksum_address(mining_address)):
            mining_address = self._deploy(w3, admin, config, rpc_url)
        mining = contracts.mining_contract(w3, mining_address)
        if contracts.till_store(mining, till) is None:  # a till never added (first start, new key)
            self._join(w3, admin, mining, config, keys)
        token_address = contracts.mining_contract(w3, mining_address).functions.token().call()
        if w3.eth.get_balance(till) < Web3.to_wei(10, "ether"):
            w3.provider.make_request("anvil_setBalance", [till, hex(Web3.to_wei(1000, "ether"))])
        from posd.app.sim_staking import ensure_staking

        staking, profit = ensure_staking(
            w3,
            admin,
            token_address,
            config.chain.staking_address or self.settings.get("staking_address", ""),
            config.chain.profit_token_address or self.settings.get("profit_token_address", ""),
        )
        self.record(staking_address=staking, profit_token_address=profit)
        return SimChain(rpc_url, mining_address, token_address, staking, profit)

    def rpc_url(self, config: Config) -> str:
        """``[chain] rpc_url``, else the URL of an anvil started here on the state dir."""
        if config.chain.rpc_url:
            return config.chain.rpc_url
        (self.state_dir / "anvil").mkdir(exist_ok=True)
        self.anvil = Anvil(state_file=self.state_dir / "anvil" / "state.json", block_time=1)
        self.anvil.start()
        # anvil runs in its own session: a start-up that fails after this point (a corrupt
        # seq mark, a bad key file) must not leave it running on the state file, where the
        # next start would run a second anvil on the same file
        atexit.register(self.stop)
        return self.anvil.url

    def _deploy(self, w3: Web3, admin: Any, config: Config, rpc_url: str) -> str:
        _, mining = contracts.deploy(w3, admin)
        contracts.register_store(
            w3,
            admin,
            mining,
            config.store.name,
            admin.address,
            config.store.currency,
            DAILY_CAP,
            rate=config.chain.reward_rate,
        )
        log.info("deployed the mining contract at %s on %s", mining.address, rpc_url)
        return mining.address

    @staticmethod
    def _join(w3: Web3, admin: Any, mining: Any, config: Config, keys: TillKeys) -> None:
        """The till consents (signed with its key, as `posd chain join-request` does) and the
        store's owner (the dev admin here) adds it."""
        contracts.add_till_with_key(w3, admin, mining, config.store.name, keys.private_key)
        log.info("till %s joined store %r with its consent", keys.address, config.store.name)

    def record(self, **values: Any) -> None:
        """Remember settings (chain, token, API port) in the state dir for tools and tests."""
        self.settings.update(values)
        write_settings(self.state_dir, self.settings)

    def record_api(self, api_port: int) -> None:
        self.record(api_port=api_port, api_url=f"http://127.0.0.1:{api_port}")

    def start_gateway(self, config: Config) -> str:
        """The claim gateway (DESIGN §9) as a child process on a free port; returns its URL."""
        from posd.app.sim_gateway import GatewayChild

        self.gateway = GatewayChild(self.state_dir)
        atexit.register(self.gateway.stop)
        chain = config.chain
        staking = chain.staking_address or self.settings.get("staking_address", "")
        url = self.gateway.start(chain.rpc_url, chain.mining_address, staking)
        self.record(gateway_url=url, gateway_pid=self.gateway.pid)
        return url

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.anvil is not None:
            self.anvil.stop()
