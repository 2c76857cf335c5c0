"""Issue 8 #4: a print job that cannot be built never stalls the receipts queued behind it.

A sale stored with an amount the QR cannot carry (2^48, written before the till bounded
amounts) used to make the spooler retry that job forever: no later receipt printed.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from helpers.legacy import write_legacy_sale

from drivers.printers.simulated import SimulatedPrinter
from posd.config.settings import Config
from posd.proof.claimcode import claim_address
from posd.receipt.builder import ReceiptBuilder
from posd.receipt.spooler import Spooler
from posd.till.sale import Sale

POISON = 1 << 48


def _poison_sale(register) -> None:
    """Sale 1 as an old database may hold it: a total past the uint48 proof field."""
    address = claim_address(register.keys.claim_seed, register.till, 1)
    line = ("SIM-GOLD", "Gold", "1", POISON, POISON, "0")
    write_legacy_sale(register.store.path, register.till, address, POISON, line)


def test_a_job_that_cannot_be_built_is_failed_and_the_next_prints(
    register, till_keys, tmp_path: Path
) -> None:
    _poison_sale(register)
    sale = Sale()
    sale.add(register.catalog.get("4006381333931"), Decimal(1), None, "price")
    sale.pay("cash", 200)
    assert register.complete(sale).seq == 2

    events: list[tuple[str, dict]] = []
    printer = SimulatedPrinter.create(tmp_path / "printer")
    spooler = Spooler(
        register.store,
        printer,
        lambda: ReceiptBuilder(Config(), register.store, till_keys),
        lambda kind, data: events.append((kind, data)),
    )
    spooler.run_due()  # returns: no retry loop behind the bad job

    jobs = register.store.query("SELECT seq, state, last_error FROM print_jobs ORDER BY id")
    assert [(r[0], r[1]) for r in jobs] == [(1, "failed"), (2, "printed")]
    assert "amount" in jobs[0][2]  # the job keeps why it failed
    assert (tmp_path / "printer" / "receipts" / "2.bin").exists()
    assert not (tmp_path / "printer" / "receipts" / "1.bin").exists()
    failed = [d for k, d in events if k == "print_failed"]
    assert failed and failed[0]["seq"] == 1 and failed[0]["permanent"] is True
    assert spooler.queued() == 0
    assert spooler.status()["failed"] == 1
    # a second run does not pick the failed job up again
    spooler.run_due()
    assert register.store.one("SELECT count(*) FROM print_jobs WHERE state = 'printed'")[0] == 1
