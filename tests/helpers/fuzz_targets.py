"""What every parser of outside bytes promises, as checks shared by the hypothesis properties
(tests/fuzz/test_properties.py) and the atheris harness (tests/fuzz/harness.py).

Each check feeds one input to a real parser and asserts the contract: it returns a valid result
or raises its documented error class; anything else (an IndexError, an OverflowError, a result
that breaks an invariant or leaks a card number) escapes as the failure. No helpers here are
mocks: the parsers are the code posd runs.
"""

from __future__ import annotations

import re
import tempfile
from decimal import Decimal
from pathlib import Path

from drivers.cards.parse import CardReadError, card_from_line, parse_nfc_uid
from drivers.masking import MASK, looks_like_pan, mask_secrets
from drivers.scanners.symbology import AIM_SYMBOLOGIES, scan_from_line, split_aim
from drivers.transports.keymap import KeyDecoder
from drivers.transports.lines import MAX_LINE, LineSplitter
from posd.config import settings
from posd.proof.claimcode import ClaimPayload, QrError
from posd.proof.leaf import MAX_AMOUNT
from posd.till import barcode
from posd.till.catalog import CatalogFileError, read_csv

SYMBOLOGIES = set(AIM_SYMBOLOGIES.values()) | {"ean8", "ean13", "upca", "upce", "itf14", "unknown"}
TERMINATORS = [b"\r\n", b"\t\n\r", b"\x03\n\r", b"\x04\n\r"]
_RUNS = re.compile(r"[0-9]+")


def no_card_number(text: str) -> None:
    """No run of 13–19 digits in ``text`` is Luhn-valid (a full card number)."""
    for run in _RUNS.findall(text):
        assert not looks_like_pan(run), f"a card number survived: {run[:6]}…"


# -- receipt QR (DESIGN §5) -------------------------------------------------------------------
def claim_url(text: str) -> None:
    try:
        payload = ClaimPayload.from_url(text)
    except QrError:
        return
    assert len(payload.encode()) == 102
    assert ClaimPayload.from_url(payload.url("https://claim.example/c")) == payload


def claim_bytes(data: bytes) -> None:
    try:
        payload = ClaimPayload.decode(data)
    except QrError:
        return
    assert payload.encode() == data


# -- scanners: framing, AIM ids, symbologies --------------------------------------------------
def scanner_stream(chunks: list[bytes], terminators: bytes, aim_ids: bool) -> None:
    lines: list[str] = []
    splitter = LineSplitter(lines.append, terminators, on_bad=lambda why: None)
    for chunk in chunks:
        splitter.data_received(chunk)
    splitter.connection_lost(None)
    for line in lines:
        assert isinstance(line, str) and line and line == line.strip(" \0")
        raw = line.encode("utf-8")
        assert len(raw) <= MAX_LINE and not any(b in raw for b in terminators)
        scan_line(line, aim_ids)


def scan_line(line: str, aim_ids: bool) -> None:
    code, symbology = split_aim(line)
    assert isinstance(code, str) and (symbology is None or symbology in SYMBOLOGIES)
    scan = scan_from_line(line, "fuzz", aim_ids)
    if scan is not None:
        assert scan.code and scan.symbology in SYMBOLOGIES


# -- keyboard wedge (evdev key events) --------------------------------------------------------
def key_events(events: list[tuple[int, int, int]], tab_ends: bool) -> None:
    decoder = KeyDecoder((28, 96, 15) if tab_ends else (28, 96))
    for type_, code, value in events:
        line = decoder.feed(type_, code, value)
        if line is not None:
            assert isinstance(line, str) and 0 < len(line) <= MAX_LINE


# -- card readers: magstripe and NFC ----------------------------------------------------------
def card_line(text: str, mode: str, uid_format: str) -> None:
    try:
        read = card_from_line(text, "fuzz", mode, uid_format)
    except CardReadError as exc:
        no_card_number(str(exc))
        return
    for field in (read.masked_pan, read.name, read.expiry):
        no_card_number(field)
    if read.kind == "nfc":  # a card number typed at an NFC reader is refused, not a UID
        no_card_number(re.sub(r"[\s:-]", "", text))
    assert read.kind in ("magstripe", "nfc")
    if read.kind == "nfc":
        assert re.fullmatch(r"[0-9A-F]+", read.uid) and len(read.uid) % 2 == 0
    else:
        assert "*" in read.masked_pan and len(read.masked_pan) in range(12, 20)


def nfc_uid(text: str, uid_format: str) -> None:
    try:
        uid = parse_nfc_uid(text, uid_format)
    except CardReadError:
        return
    assert re.fullmatch(r"[0-9A-F]+", uid) and len(uid) % 2 == 0


# -- catalog CSV (DESIGN §6) ------------------------------------------------------------------
def catalog_csv(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "catalog.csv"
        path.write_bytes(data)
        try:
            products, errors = read_csv(path)
        except CatalogFileError:
            return
    for p in products:
        assert 0 <= p.price_minor <= MAX_AMOUNT and type(p.price_minor) is int
        assert Decimal(0) <= p.tax_rate < Decimal(100)
        assert 0 < len(p.barcode) <= barcode.MAX_CODE and p.name
    for e in errors:
        assert e.line >= 2 and e.field in ("row", "barcode", "name", "price_minor", "tax_rate")
        assert len(str(e)) < 1000


# -- config TOML (DESIGN §6) ------------------------------------------------------------------
def config_toml(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "posd.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            cfg = settings.load(path)
        except settings.ConfigError as exc:
            assert str(path) in str(exc)
            return
    assert 0 <= cfg.api.port <= 65535 and 0 <= cfg.chain.chain_id < 1 << 64
    assert not cfg.api.token or len(cfg.api.token) >= settings.MIN_TOKEN
    assert cfg.chain.flush_interval_s >= 1 and cfg.chain.confirmations >= 0
    for name in ("mining_address", "token_address"):
        assert settings.address_problem(getattr(cfg.chain, name)) == ""
    cfg.to_dict(redact=True)


# -- barcodes and the masking function --------------------------------------------------------
def barcode_text(text: str, symbology: str, embedded: str) -> None:
    try:
        parsed = barcode.parse(text, symbology, embedded)
    except barcode.BadBarcode as exc:
        no_card_number(str(exc))
        return
    assert parsed.lookup and all(parsed.lookup) and len(parsed.code) <= barcode.MAX_CODE
    assert parsed.embedded is None or 0 <= parsed.embedded <= 99999


def masking(text: str) -> None:
    out = mask_secrets(text, barcode=False)
    no_card_number(out)
    assert "#" not in out or all(part.startswith(MASK) for part in out.split("#")[1:]), (
        "a fragment survived"
    )
