"""The gateway's Prometheus metrics, in its own registry (GET /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.claims = Counter(
            "posd_gateway_claims",
            "Claim requests by outcome (accepted, repeated or the error code)",
            ["result"],
            registry=self.registry,
        )
        self.lookups = Counter(
            "posd_gateway_receipt_lookups",
            "Receipt lookups by state",
            ["state"],
            registry=self.registry,
        )
        self.mined = Counter(
            "posd_gateway_claims_mined", "Relayed claims seen in a block", registry=self.registry
        )
        self.bumps = Counter(
            "posd_gateway_fee_bumps", "Replacement transactions sent", registry=self.registry
        )
        self.resent = Counter(
            "posd_gateway_claims_resent",
            "Claims sent again because a reorg took their block away",
            registry=self.registry,
        )
        self.dropped = Counter(
            "posd_gateway_claims_dropped",
            "Claims dropped because someone else claimed first",
            registry=self.registry,
        )
        self.gas_used = Counter(
            "posd_gateway_gas_used", "Gas used by relayed transactions", registry=self.registry
        )
        self.open = Gauge(
            "posd_gateway_claims_open", "Claims sent, not yet mined", registry=self.registry
        )
        self.balance = Gauge(
            "posd_gateway_relayer_balance_wei", "The relayer's balance", registry=self.registry
        )
        self.indexed_block = Gauge(
            "posd_gateway_indexed_block", "Last block the event index holds", registry=self.registry
        )
        self.latency = Histogram(
            "posd_gateway_claim_seconds",
            "Time to accept a claim (POST to 202)",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
