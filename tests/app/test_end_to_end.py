"""Scanner on a pty (real pyserial) → sale → receipt over TCP → QR decodes to the proof's claim key."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from helpers.daemon_util import Client, make_daemon, posd_cli, start_simulate, stop
from helpers.escpos_parse import FakePrinter, extract_qr_data
from helpers.wait import wait_for

from posd.db.outbox import Outbox
from posd.proof.claimcode import ClaimPayload, claim_address

pytestmark = pytest.mark.anvil

FAST = {"timeout_s": 2, "status_timeout_s": 0.3}


@pytest.fixture
def pty_scanner():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_pty_scan_to_tcp_receipt_with_claim_qr(tmp_path: Path, pty_scanner) -> None:
    master, port = pty_scanner
    with FakePrinter() as printer:
        daemon = make_daemon(
            tmp_path,
            [
                {"kind": "scanner", "driver": "serial", "port": port, "baudrate": 9600},
                {"kind": "printer", **printer.entry, **FAST},
            ],
            mining_address="0x" + "c0" * 20,
            chain_id=31337,
        )
        api_port = daemon.start()
        try:
            client = Client(f"http://127.0.0.1:{api_port}", daemon.api_token)
            wait_for(
                lambda: any(
                    d["kind"] == "scanner" and d["status"] == "ok" for d in daemon.devices.devices()
                ),
                what="the serial scanner to open",
            )
            os.write(master, b"4006381333931\r\n5000112637922\r")
            wait_for(lambda: len(daemon.register.sale.lines) == 2, what="two scanned lines")
            os.write(master, b"4006381333932\r")  # bad check digit: an event, no crash
            time.sleep(0.2)
            assert len(daemon.register.sale.lines) == 2
            status, sale = client.get("/api/sale")
            assert status == 200 and sale["total"] == 129 + 189
            status, done = client.post("/api/sale/pay", {"tender": "cash", "amount": 1000})
            assert status == 200 and done["complete"] and done["change"] == 1000 - 318
            job = wait_for(
                lambda: next(
                    (j for j in printer.jobs if b"\x1d(k" in j and j.endswith(b"\x10\x04\x04")),
                    None,
                ),
                what="the receipt over TCP",
            )
            urls = extract_qr_data(job)
            assert len(urls) == 1 and urls[0] == done["claim_url"]
            payload = ClaimPayload.from_url(urls[0])
            proof = Outbox(daemon.store).get(done["seq"])
            assert payload.seq == proof.seq and payload.amount == proof.amount == 318
            assert payload.time == proof.time and payload.till == daemon.keys.address
            assert payload.currency == "EUR" and payload.contract.lower() == "0x" + "c0" * 20
            assert payload.chain_id == 31337
            assert payload.claim_address == proof.claim_address
            assert (
                claim_address(daemon.keys.claim_seed, daemon.keys.address, proof.seq)
                == proof.claim_address
            )
            # reprint: same claim code, marked COPY
            status, _ = client.post(f"/api/receipts/{done['seq']}/reprint")
            assert status == 200
            copy = wait_for(  # the whole copy, not its first bytes (TCP delivers it in pieces)
                lambda: [j for j in printer.jobs if b"COPY" in j and j.endswith(b"\x10\x04\x04")],
                what="the copy",
            )
            assert extract_qr_data(copy[0]) == urls
        finally:
            daemon.stop()


def test_printer_gone_keeps_the_job_and_retries(tmp_path: Path) -> None:
    printer = FakePrinter()
    entry = {"kind": "printer", **printer.entry, **FAST}
    printer.close()  # nothing listens: connection refused
    daemon = make_daemon(tmp_path, [entry])
    daemon.start()
    try:
        daemon.register.scan("4006381333931")
        done = daemon.register.pay("cash", 200)
        daemon.spooler.wake()
        row = wait_for(
            lambda: (
                (
                    r := daemon.store.one(
                        "SELECT state, attempts, last_error FROM print_jobs WHERE seq = ?",
                        (done.seq,),
                    )
                )
                and r[1] >= 1
                and r
            ),
            what="a failed print attempt",
        )
        assert row[0] == "queued" and row[2]
        assert daemon.store.one("SELECT count(*) FROM proofs WHERE seq = ?", (done.seq,))[0] == 1
        assert daemon.spooler.status()["queued"] == 1
    finally:
        daemon.stop()


def test_simulate_end_to_end(tmp_path: Path) -> None:
    """The README's run command: `posd run --simulate` prints api/token/rpc/ready; a sale prints a QR."""
    proc, lines = start_simulate(tmp_path)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", lines["api"])
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", lines["rpc"])
        client = Client(lines["api"], lines["token"])
        assert client.post("/api/scan", {"code": "4006381333931", "qty": 2})[0] == 200
        status, done = client.post(
            "/api/sale/pay", {"tender": "card", "amount": 258, "reference": "T-9"}
        )
        assert status == 200 and done["seq"] == 1
        receipt = tmp_path / "printer" / "receipts" / "1.bin"
        wait_for(receipt.exists, what="the simulated printer's capture")
        payload = ClaimPayload.from_url(extract_qr_data(receipt.read_bytes())[0])
        assert payload.chain_id == 31337 and payload.amount == 258 and payload.seq == 1
        from web3 import Web3

        w3 = Web3(Web3.HTTPProvider(lines["rpc"]))
        assert w3.eth.get_code(payload.contract), "the QR names the deployed mining contract"
        wait_for((tmp_path / "printer" / "receipts" / "1.png").exists, what="the PNG preview")
        png = tmp_path / "receipt-1.png"
        r = posd_cli("--state-dir", str(tmp_path), "receipt", "1", "--png", str(png))
        assert r.returncode == 0, r.stderr
        from PIL import Image

        with Image.open(png) as image:
            assert image.width >= 384 and image.height > image.width
        r = posd_cli("--state-dir", str(tmp_path), "receipt", "99", "--png", str(png))
        assert r.returncode == 2 and "no sale with seq 99" in r.stderr
    finally:
        stop(proc)
