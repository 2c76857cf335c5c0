"""`posd run --simulate`: its own anvil, contracts deployed on first start, settings recorded.

Everything lives in the state dir, so a power cut (kill -9 of the daemon and its anvil) leaves
nothing that blocks the next start: anvil's state is dumped every second and a corrupt dump is
moved aside; contracts missing from the chain are deployed again.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eth_account import Account
from web3 import Web3

from posd import contracts
from posd.config import RECORDED
from posd.devchain import Anvil

if TYPE_CHECKING:
    from posd.daemon import Daemon

log = logging.getLogger("posd.simulate")
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


class Simulation:
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon
        self.state_dir = daemon.state_dir
        self.settings = read_settings(self.state_dir)
        self.anvil: Anvil | None = None

    def api_token(self) -> str:
        token = self.settings.get("api_token")
        if not token:
            token = secrets.token_urlsafe(24)
            self.settings["api_token"] = token
            write_settings(self.state_dir, self.settings)
        return token

    def prepare(self) -> None:
        """Start anvil (unless the config names an RPC URL) and make sure the contracts exist."""
        cfg = self.daemon.config
        if not cfg.chain.rpc_url:
            (self.state_dir / "anvil").mkdir(exist_ok=True)
            self.anvil = Anvil(state_file=self.state_dir / "anvil" / "state.json", block_time=1)
            self.anvil.start()
            cfg.chain.rpc_url = self.anvil.url
        w3 = Web3(Web3.HTTPProvider(cfg.chain.rpc_url, request_kwargs={"timeout": 10}))
        admin = Account.from_key(DEV_ADMIN_KEY)
        mining_address = cfg.chain.mining_address or self.settings.get("mining_address", "")
        if not mining_address or not w3.eth.get_code(Web3.to_checksum_address(mining_address)):
            mining_address = self._deploy(w3, admin)
        cfg.chain.mining_address = mining_address
        mining = contracts.mining_contract(w3, mining_address)
        cfg.chain.token_address = mining.functions.token().call()
        till = self.daemon.keys.address
        if w3.eth.get_balance(till) < Web3.to_wei(10, "ether"):
            w3.provider.make_request("anvil_setBalance", [till, hex(Web3.to_wei(1000, "ether"))])
        self.daemon.resolve_chain_id()
        self.daemon.link_state = "online"
        self.settings.update(
            rpc_url=cfg.chain.rpc_url,
            mining_address=mining_address,
            token_address=cfg.chain.token_address,
            chain_id=self.daemon.chain_id,
        )
        write_settings(self.state_dir, self.settings)

    def _deploy(self, w3: Web3, admin: Any) -> str:
        cfg = self.daemon.config
        _, mining = contracts.deploy(w3, admin)
        contracts.register_store(
            w3,
            admin,
            mining,
            cfg.store.name,
            admin.address,
            cfg.store.currency,
            DAILY_CAP,
            rate=cfg.chain.reward_rate,
        )
        contracts.add_till(w3, admin, mining, cfg.store.name, self.daemon.keys.address)
        log.info("deployed the mining contract at %s on %s", mining.address, cfg.chain.rpc_url)
        return mining.address

    def record(self, api_port: int) -> None:
        self.settings["api_port"] = api_port
        self.settings["api_url"] = f"http://127.0.0.1:{api_port}"
        write_settings(self.state_dir, self.settings)

    def stop(self) -> None:
        if self.anvil is not None:
            self.anvil.stop()
