"""The cash drawer (DESIGN §12) over real TCP: ESC p with the configured pin and pulse reaches a
network printer on 127.0.0.1 when a cash sale completes and never for a card-only one; a drawer
that cannot be reached is reported and the sale completes anyway; the cashier's "open drawer"
is logged with the paired session and the time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers.daemon_util import Client, make_daemon, pair_cookie
from helpers.escpos_parse import FakePrinter, free_port, kicks
from helpers.wait import wait_for

from drivers.base import Status
from drivers.entries import device_from_config
from drivers.printers.common import PrinterError
from drivers.printers.escpos import DrawerDriver, PrinterDriver

PEN = "4006381333931"  # demo catalog: 129 minor units


def events(daemon, kind: str) -> list[dict]:
    rows = daemon.store.query("SELECT data FROM events WHERE kind = ? ORDER BY id", (kind,))
    return [json.loads(r[0]) for r in rows]


# -- config entries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"kind": "printer", "driver": "escpos-network", "host": "h", "drawer": "pin3"}, "drawer"),
        ({"kind": "printer", "driver": "escpos-network", "host": "h", "drawer": 2}, "drawer"),
        (
            {"kind": "printer", "driver": "escpos-network", "host": "h", "drawer_pulse_ms": 0},
            "drawer_pulse_ms",
        ),
        ({"kind": "drawer", "driver": "escpos-serial", "port": "/dev/x", "drawer_pulse_ms": 600},
         "drawer_pulse_ms"),
        ({"kind": "scanner", "driver": "serial", "port": "/dev/x", "drawer": "pin2"}, "drawer"),
    ],
)  # fmt: skip
def test_bad_drawer_keys_are_named(entry: dict, key: str) -> None:
    with pytest.raises(ValueError, match=f"'{key}'"):
        device_from_config(entry)


def test_drawer_kick_bytes_follow_pin_and_pulse() -> None:
    with FakePrinter() as fake:
        entry = {**fake.entry, "kind": "printer", "drawer": "pin5", "drawer_pulse_ms": 60}
        printer = PrinterDriver.from_entry(entry)
        printer.open_drawer()
        assert wait_for(lambda: any(kicks(j) for j in fake.jobs))
    assert [k for j in fake.jobs for k in kicks(j)] == [bytes([1, 30, 30])]  # pin 5, 60 ms


def test_printer_without_drawer_key_refuses_to_kick() -> None:
    with FakePrinter() as fake:
        printer = PrinterDriver.from_entry({**fake.entry, "kind": "printer"})
        assert printer.drawer is None
        with pytest.raises(PrinterError, match="drawer"):
            printer.open_drawer()
        assert fake.jobs == []


def test_unreachable_drawer_device_raises_and_turns_problem() -> None:
    info = device_from_config(
        {"kind": "drawer", "driver": "escpos-network", "host": "127.0.0.1",
         "tcp_port": free_port(), "timeout_s": 2}
    )  # fmt: skip
    drawer = DrawerDriver(info)
    assert drawer.drawer == [27, 112, 0, 50, 50]  # a drawer device: pin 2, 100 ms by default
    with pytest.raises(PrinterError):
        drawer.open_drawer()
    assert drawer.status() is Status.PROBLEM and "drawer" in drawer.detail


# -- in the daemon ------------------------------------------------------------------------------


@pytest.fixture
def till_with_drawer(tmp_path: Path):
    with FakePrinter() as fake:
        entry = {**fake.entry, "kind": "printer", "drawer": "pin2", "drawer_pulse_ms": 120}
        daemon = make_daemon(tmp_path, [entry])
        port = daemon.start()
        try:
            yield daemon, fake, Client(f"http://127.0.0.1:{port}", daemon.api_token)
        finally:
            daemon.stop()


def sell(client: Client, *tenders: tuple[str, int]) -> dict:
    assert client.post("/api/scan", {"code": PEN})[0] == 200
    for tender, amount in tenders:
        status, body = client.post("/api/sale/pay", {"tender": tender, "amount": amount})
        assert status == 200, body
    assert body["complete"], body
    return body


def test_cash_sale_kicks_the_drawer_card_only_does_not(till_with_drawer) -> None:
    daemon, fake, client = till_with_drawer
    sell(client, ("card", 129))
    assert wait_for(lambda: daemon.spooler.queued() == 0 and len(fake.jobs) >= 1)
    time.sleep(0.5)  # a kick would be on its way by now
    assert [k for j in fake.jobs for k in kicks(j)] == []
    assert events(daemon, "drawer_opened") == []

    done = sell(client, ("card", 29), ("cash", 100))  # cash among the tenders
    assert wait_for(lambda: any(kicks(j) for j in fake.jobs))
    assert [k for j in fake.jobs for k in kicks(j)] == [bytes([0, 60, 60])]  # pin 2, 120 ms
    assert wait_for(lambda: events(daemon, "drawer_opened"))
    opened = events(daemon, "drawer_opened")
    assert [(e["reason"], e["seq"]) for e in opened] == [("sale", done["seq"])]
    # the kick is a connection of its own: no receipt carries it
    assert wait_for(lambda: len([j for j in fake.jobs if b"\x1b@" in j]) == 2)
    assert not any(kicks(j) for j in fake.jobs if b"\x1b@" in j)


def test_failed_kick_is_reported_and_never_blocks_the_sale(tmp_path: Path) -> None:
    closed = free_port()
    daemon = make_daemon(
        tmp_path,
        [
            {"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")},
            {"kind": "drawer", "driver": "escpos-network", "host": "127.0.0.1",
             "tcp_port": closed, "timeout_s": 2},
        ],
    )  # fmt: skip
    port = daemon.start()
    try:
        client = Client(f"http://127.0.0.1:{port}", daemon.api_token)
        started = time.monotonic()
        done = sell(client, ("cash", 200))
        assert time.monotonic() - started < 2.0 and done["seq"] == 1 and done["change"] == 71
        assert wait_for(lambda: events(daemon, "drawer_failed"))
        failed = events(daemon, "drawer_failed")[0]
        assert failed["reason"] == "sale" and failed["seq"] == 1 and failed["error"]
        assert failed["device"] == f"drawer:escpos-network:127.0.0.1:{closed}"
        status = client.get("/api/status")[1]
        drawer = next(d for d in status["devices"] if d["kind"] == "drawer")
        assert drawer["status"] == "problem"
        assert daemon.outbox.get(1) is not None  # the sale and its proof stand
        # the cashier's button says so too, with a clear error instead of a 500
        status, body = client.post("/api/drawer/open", {})
        assert (status, body["error"]["code"]) == (503, "drawer_failed")
    finally:
        daemon.stop()


def test_open_drawer_route_logs_session_and_time(till_with_drawer, tmp_path: Path) -> None:
    daemon, fake, client = till_with_drawer
    cookie = pair_cookie(daemon.store.path, client.base, "cashier")
    page = Client(client.base, None, cookie)
    before = time.time()
    status, body = page.post("/api/drawer/open", {})
    assert status == 200 and body["opened"] is True, body
    assert wait_for(lambda: [k for j in fake.jobs for k in kicks(j)] == [bytes([0, 60, 60])])
    logged = events(daemon, "drawer_opened")[-1]
    session = cookie.split("=", 1)[1]
    assert logged["reason"] == "manual" and logged["scope"] == "cashier"
    assert len(logged["session"]) == 12 and logged["session"] != session[:12]
    assert session not in json.dumps(logged)  # a short id of its hash, never the cookie
    assert before - 1 <= logged["at"] <= time.time() + 1
    display = Client(client.base, None, pair_cookie(daemon.store.path, client.base, "display"))
    assert display.post("/api/drawer/open", {})[0] == 403  # the display is read-only
    assert Client(client.base, None).post("/api/drawer/open", {})[0] == 401


def test_no_drawer_configured_is_a_clear_conflict(tmp_path: Path) -> None:
    daemon = make_daemon(
        tmp_path, [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "p")}]
    )
    port = daemon.start()
    try:
        client = Client(f"http://127.0.0.1:{port}", daemon.api_token)
        status, body = client.post("/api/drawer/open", {})
        assert (status, body["error"]["code"]) == (409, "no_drawer")
    finally:
        daemon.stop()


# -- a printer busy with a receipt ----------------------------------------------------------------


def test_kick_waits_for_a_busy_printer_only_as_long_as_asked() -> None:
    """A receipt holds the printer (it never answers the status query): the kick gives up."""
    import threading

    from drivers.printers.common import PrinterBusy

    with FakePrinter(answer_status=False) as fake:
        entry = {**fake.entry, "kind": "printer", "drawer": "pin2", "status_timeout_s": 3}
        printer = PrinterDriver.from_entry(entry)
        job = threading.Thread(target=printer.print_job, args=(lambda p: p.text("x\n"),))
        job.start()
        assert wait_for(lambda: len(fake.jobs) == 1)  # the job holds the connection now
        started = time.monotonic()
        with pytest.raises(PrinterBusy, match="busy with a print job"):
            printer.open_drawer(wait=0.5)
        assert time.monotonic() - started < 2.0
        assert printer.status() is not Status.PROBLEM  # busy is not broken
        job.join(10)
        printer.open_drawer(wait=0.5)  # free again: it goes out
        assert wait_for(lambda: any(kicks(j) for j in fake.jobs))


def test_open_drawer_while_a_receipt_holds_the_printer_is_a_clear_409(tmp_path: Path) -> None:
    """The cashier's button answers 409 drawer_busy in the printer's timeout_s (never a 500,
    never 15 s), and the abandoned kick never opens the drawer later."""
    with FakePrinter(answer_status=False) as fake:
        entry = {**fake.entry, "kind": "printer", "drawer": "pin2", "timeout_s": 1,
                 "status_timeout_s": 4}  # fmt: skip
        daemon = make_daemon(tmp_path, [entry])
        port = daemon.start()
        try:
            client = Client(f"http://127.0.0.1:{port}", daemon.api_token)
            sell(client, ("card", 129))  # its receipt waits 4 s for a status answer
            assert wait_for(lambda: len(fake.jobs) >= 1)
            started = time.monotonic()
            status, body = client.post("/api/drawer/open", {})
            took = time.monotonic() - started
            assert (status, body["error"]["code"]) == (409, "drawer_busy"), body
            assert "busy with a print job" in body["error"]["message"] and took < 3.5
            failed = events(daemon, "drawer_failed")
            assert failed and failed[-1]["busy"] is True and failed[-1]["reason"] == "manual"
            # the receipt comes out; the kick the cashier was told about never follows it
            assert wait_for(lambda: daemon.spooler.queued() == 0, 15)
            time.sleep(1.0)
            assert [k for j in fake.jobs for k in kicks(j)] == []
            # and once the printer is free the button works
            status, body = client.post("/api/drawer/open", {})
            assert status == 200 and body["opened"] is True, body
            assert wait_for(
                lambda: [k for j in fake.jobs for k in kicks(j)] == [bytes([0, 50, 50])]
            )
        finally:
            daemon.stop()
