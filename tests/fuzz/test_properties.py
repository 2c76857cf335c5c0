"""Property tests (hypothesis) for every parser of outside bytes: each returns a valid result or
raises its documented error class, never anything else (tests/helpers/fuzz_targets.py).

Strategies are shaped like the real inputs (claim URLs around valid payloads, scanner streams cut
at random points, key-event sequences, swipes, CSV rows, TOML tables) and mixed with raw noise.
The coverage-guided counterpart is tests/fuzz/test_atheris.py (slow).
"""

from __future__ import annotations

import base64
import string

import pytest
import tomli_w
from helpers import fuzz_targets as t
from helpers.flush_kit import make_till
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from drivers.masking import mask_pan
from posd.errors import PosdError
from posd.proof.leaf import MAX_AMOUNT

FAST = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
DIGITS = "0123456789"
UNICODE_DIGITS = "²³¹٠١٢٣٤٥٦٧٨٩０１２３４５６７８９߀०৩"
noisy_text = (
    st.text(alphabet=st.sampled_from(DIGITS + UNICODE_DIGITS + "%;^=?#:/-_ .AZaz\t\x00\x1d=+"))
    | st.text()
)


def luhn_digit(body: str) -> str:
    for d in DIGITS:
        if t.looks_like_pan(body + d) or not (13 <= len(body) + 1 <= 19):
            return d
    raise AssertionError


pans = st.integers(12, 18).flatmap(
    lambda n: st.text(DIGITS, min_size=n, max_size=n).map(lambda b: b + luhn_digit(b))
)


# -- receipt QR ------------------------------------------------------------------------------
payload_bytes = st.builds(
    lambda head, key, tail: bytes([1]) + head + key + tail,
    st.binary(min_size=69, max_size=69),
    st.binary(min_size=32, max_size=32),
    st.binary(max_size=2),
)


@FAST
@given(
    st.one_of(payload_bytes, st.binary(max_size=120)), noisy_text, st.sampled_from(["", "=", "\n"])
)
@example(bytes([1]) + bytes(101), "", "")
def test_claim_urls(data: bytes, noise: str, pad: str) -> None:
    fragment = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    t.claim_url(f"https://claim.example/c#{fragment}{pad}")
    t.claim_url(fragment + noise)
    t.claim_url(noise)
    t.claim_bytes(data)


# -- scanners --------------------------------------------------------------------------------
aim_lines = st.builds(
    lambda c, m, body: f"]{c}{m}{body}",
    st.sampled_from(string.ascii_letters + "]"),
    st.sampled_from(string.ascii_letters + DIGITS),
    noisy_text,
)


@FAST
@given(
    st.lists(st.binary(max_size=64) | aim_lines.map(lambda s: s.encode() + b"\r\n"), max_size=20),
    st.sampled_from(t.TERMINATORS),
    st.booleans(),
)
def test_scanner_streams(chunks: list[bytes], terminators: bytes, aim_ids: bool) -> None:
    t.scanner_stream(chunks, terminators, aim_ids)


@FAST
@given(st.lists(st.binary(min_size=5000, max_size=5000), max_size=2), st.booleans())
def test_overlong_scanner_lines_are_dropped(chunks: list[bytes], aim_ids: bool) -> None:
    t.scanner_stream([*chunks, b"x\n"], b"\r\n", aim_ids)


@FAST
@given(aim_lines | noisy_text, st.booleans())
def test_scan_lines(line: str, aim_ids: bool) -> None:
    t.scan_line(line, aim_ids)


# -- keyboard wedge --------------------------------------------------------------------------
key_event = st.tuples(
    st.sampled_from([1, 1, 1, 0, 4]),
    st.integers(0, 120) | st.integers(-(2**31), 2**31),
    st.sampled_from([0, 1, 2]) | st.integers(-5, 5),
)


@FAST
@given(st.lists(key_event, max_size=300), st.booleans())
def test_key_events(events: list[tuple[int, int, int]], tab_ends: bool) -> None:
    t.key_events(events, tab_ends)


def test_alt_keypad_codes_never_overflow() -> None:
    """Alt held over 5,000 keypad digits used to reach int() with 5,000 digits (ValueError)."""
    events = [(1, 56, 1)] + [(1, 79, 1), (1, 79, 0)] * 5000 + [(1, 56, 0), (1, 28, 1)]
    t.key_events(events, False)


def test_alt_with_keypad_minus_is_no_crash() -> None:
    """Found by atheris: Alt + keypad 9, keypad '-' reached int('9-') (ValueError)."""
    t.key_events([(1, 56, 1), (1, 73, 1), (1, 74, 1), (1, 56, 0), (1, 28, 1)], False)


# -- card readers ----------------------------------------------------------------------------
swipes = st.builds(
    lambda pan, name, exp, rest, t2: (
        f"%B{pan}^{name}^{exp}{rest}?" + (f";{pan}={exp}{rest}?" if t2 else "")
    ),
    pans,
    st.text(alphabet=string.ascii_uppercase + "/ ", max_size=30),
    st.text(DIGITS, min_size=0, max_size=5),
    st.text(DIGITS + "^=", max_size=20),
    st.booleans(),
)
modes = st.sampled_from(["auto", "magstripe", "nfc"])
uid_formats = st.sampled_from(["auto", "hex", "decimal"])


@FAST
@given(swipes | noisy_text | st.text(DIGITS + "ABCDEF:- ", max_size=40), modes, uid_formats)
def test_card_lines(line: str, mode: str, uid_format: str) -> None:
    t.card_line(line, mode, uid_format)
    t.nfc_uid(line, uid_format)


def test_a_card_number_in_the_name_field_is_masked() -> None:
    """Found by atheris: track 1's name field carried a full card number into CardRead.name."""
    t.card_line("%B4111111111111111^DOE/B4111111111111111^2512101000000000?", "auto", "auto")


def test_a_card_number_read_as_an_nfc_uid_is_refused() -> None:
    """Found by atheris: a reader in nfc mode sent a card number, published as the UID."""
    t.card_line("4111111111111111", "nfc", "hex")
    t.card_line("4111-1111-1111-1111", "auto", "auto")


def test_unicode_that_upper_cases_to_hex_is_no_uid() -> None:
    """'ﬀ'.upper() == 'FF': a UID must be ASCII before it is normalised."""
    from drivers.cards.parse import CardReadError, parse_nfc_uid

    try:
        uid = parse_nfc_uid("ﬀ", "hex")
    except CardReadError:
        return
    raise AssertionError(f"non-ASCII text read as UID {uid}")


# -- catalog CSV -----------------------------------------------------------------------------
cells = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["4006381333931", "2112345", "96385074", "19", "7.5", "²", "", '"', "1e9"]),
    noisy_text,
)
rows = st.lists(cells, min_size=0, max_size=6).map(lambda r: ",".join(r))


@FAST
@given(st.lists(rows, max_size=12), st.binary(max_size=200))
def test_catalog_csv(lines: list[str], noise: bytes) -> None:
    text = "\n".join(["barcode,name,price_minor,tax_rate", *lines])
    t.catalog_csv(text.encode("utf-8", "surrogatepass"))
    t.catalog_csv(noise)
    t.catalog_csv(b"barcode,name,price_minor,tax_rate\n" + noise)


# -- config TOML -----------------------------------------------------------------------------
KEYS = {
    "store": ["name", "currency", "embedded", "address"],
    "till": ["name", "state_dir", "key_file"],
    "receipt": ["width", "claim_base_url", "footer", "profile"],
    "chain": [
        "rpc_url",
        "chain_id",
        "mining_address",
        "token_address",
        "flush_interval_s",
        "confirmations",
        "confirm",
        "max_batch",
        "max_fee_gwei",
        "tx_timeout_s",
        "reward_rate",
    ],
    "api": ["port", "token"],
}
values = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    st.text(max_size=50),
    st.sampled_from(["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", "http://127.0.0.1:8545"]),
    st.lists(st.integers(), max_size=2),
)
device = st.dictionaries(
    st.sampled_from(
        ["kind", "driver", "port", "host", "tcp_port", "baudrate", "terminator", "mode"]
    ),
    values | st.sampled_from(["scanner", "printer", "serial", "escpos-network", "simulated"]),
    max_size=6,
)
sections = st.fixed_dictionaries(
    {},
    optional={
        s: st.dictionaries(st.sampled_from(keys + ["bogus"]), values, max_size=4)
        for s, keys in KEYS.items()
    }
    | {"device": st.lists(device, max_size=2)},
)


@FAST
@given(sections, noisy_text)
def test_config_toml(doc: dict, noise: str) -> None:
    t.config_toml(tomli_w.dumps(doc))
    t.config_toml(noise)


# -- barcodes and masking --------------------------------------------------------------------
@FAST
@given(
    st.text(DIGITS + UNICODE_DIGITS, max_size=14)
    | noisy_text
    | st.text(min_size=250, max_size=300),
    st.sampled_from(["", "ean13", "ean8", "upce", "upca", "qr"]),
    st.sampled_from(["price", "weight"]),
)
def test_barcodes(text: str, symbology: str, embedded: str) -> None:
    t.barcode_text(text, symbology, embedded)


@FAST
@given(pans, noisy_text, st.sampled_from(["", " ", "-"]))
def test_card_numbers_never_survive_masking(pan: str, noise: str, sep: str) -> None:
    grouped = sep.join(pan[i : i + 4] for i in range(0, len(pan), 4))
    for text in (pan, f"ref {grouped}!", f"{noise} {pan} {noise}", f"%B{pan}^X^2512{noise}?"):
        t.masking(text)
        assert pan not in t.mask_secrets(text, barcode=False)
    assert mask_pan(pan) in t.mask_secrets(f"x {pan} y", barcode=False)


@FAST
@given(noisy_text)
def test_masking_any_text(text: str) -> None:
    t.masking(text)


# -- the till's JSON body parsers, in process ------------------------------------------------
@pytest.fixture(scope="module")
def fuzz_register(tmp_path_factory):
    kit = make_till(tmp_path_factory.mktemp("till"), None)  # synchronous=OFF: speed only
    yield kit.register
    kit.register.close()
    kit.store.close()


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["scan", "pay", "void", "cancel"]),
            noisy_text | st.sampled_from(["4006381333931", "cash", "card", "SIM-CROISSANT"]),
            st.integers(-(2**70), 2**70) | st.integers(-2, MAX_AMOUNT + 2),
        ),
        max_size=12,
    )
)
def test_register_inputs(fuzz_register, steps: list[tuple[str, str, int]]) -> None:
    """Scans, tenders and voids with any text and any integer: a result or a PosdError."""
    register = fuzz_register
    register.cancel()
    for action, text, number in steps:
        try:
            if action == "scan":
                register.scan(text, number)
            elif action == "pay":
                register.pay(text if text in ("cash", "card") else "cash", number, text)
            elif action == "void":
                register.void_line(number)
            else:
                register.cancel()
        except PosdError:
            pass
        assert 0 <= register.sale.total <= MAX_AMOUNT
    for (ref,) in register.store.query("SELECT reference FROM payments"):
        t.no_card_number(ref)
