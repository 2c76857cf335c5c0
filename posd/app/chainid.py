"""The chain id printed in receipt QRs: config, else remembered, else asked of the node once.

A till that starts offline still prints receipts (with chain id 0 until the node answers); the
first answer is kept in the database so `posd receipt` and later starts need no node.
"""

from __future__ import annotations

from posd.chain.rpc import LinkDown, Rpc, RpcError, hexint
from posd.config.settings import Config
from posd.db import meta
from posd.db.meta import Meta
from posd.db.store import Store
from posd.receipt.builder import known_chain_id


class ChainId:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.value: int | None = None

    def resolve(self) -> int | None:
        """The chain id, asking the node only while it is not known; None while offline."""
        if self.value is None:
            self.value = known_chain_id(self.config, self.store)
        if self.value is None and self.config.chain.rpc_url:
            try:
                self.value = hexint(Rpc(self.config.chain.rpc_url, timeout=3.0).call("eth_chainId"))
            except (LinkDown, RpcError, ValueError):
                return None  # offline: asked again at the next receipt
            Meta(self.store).set(meta.CHAIN_ID, self.value)
        return self.value
