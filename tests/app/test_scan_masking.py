"""Issue 8 #5: a scanned claim URL, magstripe track data, a card number or a key never reaches a
log line, the event stream or the database verbatim (DESIGN §7), whichever path it came down.

A real register on a real SQLite file, the device hub with its simulated scanner, and a real
serial scanner on a pty (pyserial), everything logged at DEBUG.
"""

from __future__ import annotations

import logging
import os
import queue
import time
from pathlib import Path

import pytest

from posd.app.devices import DeviceHub
from posd.proof.claimcode import ClaimPayload
from posd.till.sale import SaleError

PAYLOAD = ClaimPayload(
    chain_id=31337,
    contract="0x" + "22" * 20,
    till="0x" + "33" * 20,
    seq=7,
    amount=129,
    currency="EUR",
    time=1_700_000_000,
    claim_key=bytes(range(1, 33)),
)
CLAIM_URL = PAYLOAD.url("https://claim.example/c")
FRAGMENT = CLAIM_URL.split("#", 1)[1]
TRACKS = "%B4111111111111111^DOE/JOHN^25121010000000000123?;4111111111111111=2512101000000123?"
SECRETS = {
    CLAIM_URL: [FRAGMENT, FRAGMENT[:40]],
    TRACKS: ["4111111111111111", "DOE/JOHN", "2512101000000123", "25121010000000000123"],
    "4111 1111 1111 1111": ["4111 1111 1111 1111", "1111 1111 1111"],
    "5500000000000004": ["5500000000000004"],
    "0x" + bytes(range(1, 33)).hex(): [bytes(range(1, 33)).hex()],
    FRAGMENT: [FRAGMENT[:40]],  # a bare payload, as `posd claim` also accepts it
}


def _everything(caplog, sub: queue.Queue, store) -> str:
    events = []
    while True:
        try:
            events.append(repr(sub.get_nowait()))
        except queue.Empty:
            break
    rows = []
    for (table,) in store.query("SELECT name FROM sqlite_master WHERE type = 'table'"):
        rows += [repr(tuple(r)) for r in store.query(f"SELECT * FROM {table}")]
    return "\n".join([caplog.text, *events, *rows])


def _assert_masked(text: str) -> None:
    for secrets in SECRETS.values():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}… leaked"


@pytest.fixture
def hub(register, tmp_path: Path):
    devices = DeviceHub(
        [],
        on_scan=register.scan,
        publish=register.bus.publish,
        state_dir=tmp_path,
        simulate=True,
        autodetect=False,
    )
    devices.start()
    yield devices
    devices.stop()


def test_simulated_scans_of_secrets_are_masked_everywhere(register, hub, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sub = register.bus.subscribe()
    scanner = hub.simulated("scanner")
    for code in SECRETS:
        scanner.inject(code)
    everything = _everything(caplog, sub, register.store)
    _assert_masked(everything)
    assert "411111******1111" in everything  # the cashier still sees what was scanned
    assert "https://claim.example/c#<masked>" in everything


def test_api_scans_of_secrets_answer_masked_messages(register, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sub = register.bus.subscribe()
    messages = []
    for code in SECRETS:
        with pytest.raises(SaleError) as err:
            register.scan(code)
        messages.append(err.value.message)
    _assert_masked("\n".join(messages) + _everything(caplog, sub, register.store))


def test_a_serial_scanner_on_a_pty_is_masked_too(register, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sub = register.bus.subscribe()
    master, slave = os.openpty()
    devices = DeviceHub(
        [{"kind": "scanner", "driver": "serial", "port": os.ttyname(slave), "id": "pty"}],
        on_scan=register.scan,
        publish=register.bus.publish,
        state_dir=tmp_path,
        autodetect=False,
    )
    devices.start()
    try:
        time.sleep(0.3)
        for code in SECRETS:
            os.write(master, code.encode() + b"\r\n")
        deadline = time.monotonic() + 5
        seen = 0
        while seen < len(SECRETS) and time.monotonic() < deadline:
            try:
                kind = sub.get(timeout=0.2)["kind"]
            except queue.Empty:
                continue
            seen += kind in ("unknown_product", "bad_barcode")
        assert seen == len(SECRETS)
        for code in SECRETS:  # and once more, for the full record
            os.write(master, code.encode() + b"\r\n")
        time.sleep(0.5)
    finally:
        devices.stop()
        os.close(master)
        os.close(slave)
    _assert_masked(_everything(caplog, sub, register.store))
