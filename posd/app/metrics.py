"""Prometheus metrics of the till (``/metrics``): sales, proofs by state, receipts waiting.

Counters move as things happen; the gauges are read from the database when scraped, so they
never drift from what is stored.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sales = Counter("posd_sales", "Sales completed", registry=self.registry)
        self.proofs = Gauge("posd_proofs", "Proofs by state", ["state"], registry=self.registry)
        self.print_queue = Gauge(
            "posd_print_jobs_queued", "Receipts waiting for the printer", registry=self.registry
        )

    def sale_completed(self) -> None:
        self.sales.inc()

    def refresh(self, proof_counts: dict[str, int], print_queued: int) -> None:
        for state, n in proof_counts.items():
            self.proofs.labels(state).set(n)
        self.print_queue.set(print_queued)

    def text(self) -> bytes:
        """The exposition format, as ``prometheus_client.CONTENT_TYPE_LATEST``."""
        return generate_latest(self.registry)
