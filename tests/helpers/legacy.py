"""Rows as an older till wrote them, past today's bounds at the edge: written straight through the
sale writer (the one transaction a sale is), so tests can show what posd does with them now."""

from __future__ import annotations

from pathlib import Path

from posd.db.sales import SaleRecord
from posd.till.salewriter import SaleWriter

AT = 1_700_000_000


def write_legacy_sale(
    db_path: Path,
    till: str,
    claim_address: str,
    total: int,
    line: tuple[str, str, str, int, int, str],
    reference: str = "",
    seq: int = 1,
) -> None:
    """One card-paid sale with one line, stored as is (no bound, no masking)."""
    writer = SaleWriter(db_path, lambda: None)
    try:
        record = SaleRecord(
            seq=seq,
            till=till,
            time=AT,
            claim_address=claim_address,
            started_at=float(AT),
            currency="EUR",
            total=total,
            paid=total,
            change=0,
            lines=[line],
            payments=[("card", total, reference)],
            events=[],
        )
        writer.submit(record).result(timeout=10)
    finally:
        writer.close()
