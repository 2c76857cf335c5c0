"""ESC/POS bytes over a real TCP socket (python-escpos ``Network`` → FakePrinter on 127.0.0.1):
the QR decodes to the claim payload, code pages carry € £ é, widths hold, failures are
``PrinterError``s within the timeout, never a hang."""

from __future__ import annotations

import time

import pytest
from escpos.printer import Dummy
from helpers.escpos_parse import (
    Command,
    FakePrinter,
    extract_images,
    extract_lines,
    extract_qr_data,
    extract_text,
    free_port,
    parse,
    qr_matrix,
    read_qr_matrix,
)
from test_receipt import make_payload, make_receipt

from drivers.base import Status
from drivers.printers.common import PrinterError
from drivers.printers.escpos import PrinterDriver
from posd.proof.claimcode import ClaimPayload
from posd.receipt.escpos import print_escpos

FAST = {"timeout_s": 2, "status_timeout_s": 0.3}


def driver_for(fake: FakePrinter, profile: str = "default", **extra: object) -> PrinterDriver:
    return PrinterDriver.from_entry({**fake.entry, "profile": profile, **FAST, **extra})


def print_over_tcp(receipt, profile: str = "TM-T88III", native_qr=None, **fake_options) -> bytes:
    with FakePrinter(**fake_options) as fake:
        driver = driver_for(fake, profile)
        driver.print_job(lambda p: print_escpos(receipt, p, native_qr=native_qr), job="7")
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and not fake.jobs[-1].endswith(b"\x10\x04\x04"):
            time.sleep(0.01)  # the closing status query is the last thing sent
        assert driver.status() is Status.OK
        return fake.jobs[-1]


def test_native_qr_decodes_to_the_claim_payload() -> None:
    receipt = make_receipt()
    raw = print_over_tcp(receipt)
    assert extract_qr_data(raw) == [receipt.claim_url]
    assert ClaimPayload.from_url(extract_qr_data(raw)[0]) == make_payload()
    names = [t.name for t in parse(raw) if isinstance(t, Command)]
    # model 2, module size, error correction M ("1"), store, print
    qr = [t for t in parse(raw) if isinstance(t, Command) and t.name == "GS ( k"]
    assert [t.data[:2] for t in qr] == [b"1A", b"1C", b"1E", b"1P", b"1Q"]
    assert qr[2].data == b"1E1"  # 48 + QR_ECLEVEL_M (1)
    assert 3 <= qr[1].data[2] <= 8
    assert "GS v 0" not in names
    assert names[:3] == ["DLE EOT", "DLE EOT", "ESC @"]  # paper checked before printing
    assert names[-2:] == ["DLE EOT", "DLE EOT"]  # delivery confirmed after
    assert "GS V" in names  # cut


@pytest.mark.parametrize("profile", ["default", "TM-T88III", "TM-T20II", "POS-5890", "TM-P80"])
def test_accents_and_currency_symbols_in_the_right_code_page(profile: str) -> None:
    receipt = make_receipt(currency="GBP", store_name="Café £ € Bäckerei")
    with FakePrinter() as fake:
        driver_for(fake, profile).print_job(lambda p: print_escpos(receipt, p))
        raw = fake.jobs[-1]
    text = extract_text(raw, profile)
    assert "Café £ € Bäckerei" in text
    assert "Crème brûlée" in text and "Brötchen" in text and "Hauptstraße 1" in text
    assert "£12.34" in text and "?" not in text


def test_euro_byte_value_under_the_selected_code_page() -> None:
    raw = print_over_tcp(make_receipt(), profile="TM-T88III")
    # escpos was asked to prefer CP858 (Epson page 19): € is 0xD5 there, é 0x82, ü 0x81
    assert b"\x1bt\x13" in raw
    assert b"Caf\x82 Z\x81rich" in raw and b"\xd512.34" in raw
    assert b"\xd5".decode("cp858") == "€"
    # every ESC t before a high byte names a page in which that byte decodes (see extract_text)
    pages = [t.args[0] for t in parse(raw) if isinstance(t, Command) and t.name == "ESC t"]
    assert pages == [19]  # one switch for the whole receipt


def test_symbol_without_any_code_page_becomes_question_mark() -> None:
    dummy = Dummy(profile="simple")  # CP437 only: no €
    print_escpos(make_receipt(), dummy)
    text = extract_text(dummy.output, "simple")
    assert "?12.34" in text and "Café" in text


@pytest.mark.parametrize(
    ("width", "profile"), [(32, "POS-5890"), (42, "TM-T88III"), (48, "TM-T20II")]
)
def test_printed_lines_fit_the_paper(width: int, profile: str) -> None:
    receipt = make_receipt(
        width,
        store_name="Ein sehr langer Name für eine kleine Bäckerei am Markt",
        footer="Vielen Dank für Ihren Einkauf und bis bald! " * 3,
    )
    raw = print_over_tcp(receipt, profile=profile)
    lines = extract_lines(raw, profile)
    assert lines
    for text, scale in lines:
        assert len(text) * scale <= width, (text, scale)
    assert any(scale == 2 for _, scale in lines)
    assert any(len(text) == width for text, _ in lines)  # rules use the full width


def test_copy_is_printed_on_reprints() -> None:
    original = extract_lines(print_over_tcp(make_receipt()), "TM-T88III")
    reprint = extract_lines(print_over_tcp(make_receipt(copy=True)), "TM-T88III")
    assert not any("COPY" in text for text, _ in original)
    banners = [(text, scale) for text, scale in reprint if "COPY" in text]
    assert banners == [("*** COPY ***", 2), ("*** COPY ***", 2)]
    assert reprint[0] == ("*** COPY ***", 2)


@pytest.mark.parametrize("profile", ["POS-5890", "ZJ-5870"])
def test_profile_without_native_qr_prints_an_image(profile: str) -> None:
    receipt = make_receipt(32)
    raw = print_over_tcp(receipt, profile=profile)
    assert extract_qr_data(raw) == []
    assert b"\x1d(k" not in raw
    images = extract_images(raw)
    assert len(images) == 1
    expected = qr_matrix(receipt.claim_url)
    assert read_qr_matrix(images[0], len(expected)) == expected
    assert images[0].width <= 384


def test_forced_image_qr_on_a_profile_without_paper_width(capsys: pytest.CaptureFixture) -> None:
    receipt = make_receipt()
    dummy = Dummy(profile="default")
    print_escpos(receipt, dummy, native_qr=False)
    assert extract_qr_data(dummy.output) == []
    [image] = extract_images(dummy.output)
    expected = qr_matrix(receipt.claim_url)
    assert read_qr_matrix(image, len(expected)) == expected
    assert capsys.readouterr().out == ""  # escpos warns on stdout when it lacks a paper width
    again = Dummy(profile="default")  # the shared profile class was not modified
    assert again.profile.profile_data["media"]["width"]["pixels"] == "Unknown"


def test_refunded_reprint_has_no_qr() -> None:
    raw = print_over_tcp(make_receipt(refunded=True, copy=True))
    assert extract_qr_data(raw) == [] and extract_images(raw) == []
    assert "REFUNDED" in extract_text(raw, "TM-T88III")


# -- printer gone, slow or out of paper ---------------------------------------------------


def test_nothing_listening_is_a_printer_error() -> None:
    driver = PrinterDriver.from_entry(
        {"driver": "escpos-network", "host": "127.0.0.1", "tcp_port": free_port(), **FAST}
    )
    started = time.monotonic()
    with pytest.raises(PrinterError, match="connection refused"):
        driver.print_job(lambda p: print_escpos(make_receipt(), p))
    assert time.monotonic() - started < 2
    assert driver.status() is Status.PROBLEM and "refused" in driver.detail
    assert driver.check() is Status.PROBLEM


def test_printer_gone_mid_receipt() -> None:
    with FakePrinter(die_after_status=2) as fake:  # answers the paper check, then resets
        driver = driver_for(fake, "TM-T88III")
        started = time.monotonic()
        with pytest.raises(PrinterError) as err:
            driver.print_job(lambda p: print_escpos(make_receipt(), p))
        assert time.monotonic() - started < 3
        assert driver.status() is Status.PROBLEM
        assert driver.device.id in err.value.message


def test_printer_that_stops_reading_times_out() -> None:
    with FakePrinter(read=False) as fake:
        driver = PrinterDriver.from_entry({**fake.entry, "timeout_s": 1, "status_timeout_s": 0.2})
        started = time.monotonic()
        with pytest.raises(PrinterError, match="no answer within 1 s"):
            driver.print_job(lambda p: p._raw(b"\x00" * 64_000_000))  # more than any buffer
        assert time.monotonic() - started < 10


def test_paper_out_refuses_the_job_before_printing() -> None:
    with FakePrinter(paper="out") as fake:
        driver = driver_for(fake)
        with pytest.raises(PrinterError, match="paper out"):
            driver.print_job(lambda p: print_escpos(make_receipt(), p))
        assert b"\x1b@" not in fake.jobs[-1]  # nothing but the status queries was sent
        assert driver.status() is Status.PROBLEM
        fake.paper = "ok"
        driver.print_job(lambda p: print_escpos(make_receipt(), p))  # the retry prints
        assert driver.status() is Status.OK
        assert extract_qr_data(fake.jobs[-1]) == [make_receipt().claim_url]


def test_offline_printer_is_a_problem() -> None:
    with FakePrinter(online=False) as fake:
        driver = driver_for(fake)
        assert driver.check() is Status.PROBLEM and "offline" in driver.detail


def test_check_is_tri_state() -> None:
    with FakePrinter() as fake:
        driver = driver_for(fake)
        assert driver.status() is Status.UNKNOWN  # nothing asked yet: no guess
        assert driver.check() is Status.OK
    with FakePrinter(paper="low") as fake:
        driver = driver_for(fake)
        assert driver.check() is Status.OK and driver.detail == "paper low"
    with FakePrinter(answer_status=False) as fake:
        driver = driver_for(fake)
        assert driver.check() is Status.UNKNOWN
        assert "does not answer" in driver.detail


def test_silent_printer_prints_and_status_stays_unknown() -> None:
    receipt = make_receipt()
    with FakePrinter(answer_status=False) as fake:
        driver = driver_for(fake, "TM-T88III", status_timeout_s=1.5)
        started = time.monotonic()
        driver.print_job(lambda p: print_escpos(receipt, p))
        assert time.monotonic() - started >= 1.5  # waited once for a status reply
        assert driver.status() is Status.UNKNOWN
        started = time.monotonic()
        driver.print_job(lambda p: print_escpos(receipt, p))
        assert time.monotonic() - started < 1.0  # learned: no second wait
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and b"\x1dV" not in fake.jobs[-1]:
            time.sleep(0.01)
        assert extract_qr_data(fake.jobs[-1]) == [receipt.claim_url]
        assert fake.jobs[-1].count(b"\x10\x04") == 0


def test_render_bug_is_reported_as_printer_error_and_closes_the_link() -> None:
    def broken(printer):
        raise ValueError("layout bug")

    with FakePrinter() as fake:
        driver = driver_for(fake)
        with pytest.raises(PrinterError, match="ValueError: layout bug"):
            driver.print_job(broken)
        driver.print_job(lambda p: print_escpos(make_receipt(), p))  # next job works
