"""The till's JoinStore consent blob (posd.chain.consent): what `join-request` prints and
`add-till --consent` reads. Every wrong consent is refused with the reason, before any chain."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from posd import proof
from posd.chain import consent
from posd.chain.contracts import store_id
from posd.errors import BadInput

CHAIN = 31337
MINING = "0x" + "ab" * 20
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def till():
    return Account.create()


def _check(join, till, store="Shop A", **kw):
    args = {"till": till.address, "store": store, "store_id": store_id(store), "chain_id": CHAIN,
            "mining": MINING, "now": NOW} | kw  # fmt: skip
    consent.check(join, **args)


def test_round_trip_and_the_signature_is_the_tills(till) -> None:
    join = consent.request(bytes(till.key), CHAIN, MINING, store_id("Shop A"), 86400, now=NOW)
    assert join.till == till.address and join.deadline == NOW + 86400
    blob = join.to_hex()
    assert len(blob) == 2 + 2 * consent.CONSENT_LEN
    assert consent.decode(blob) == join == consent.decode(blob[2:].upper())
    digest = proof.join_store_digest(CHAIN, MINING, store_id("Shop A"), till.address, join.deadline)
    assert proof.recover_digest(digest, join.signature) == till.address
    _check(join, till)  # the right till, store, deployment and time: accepted
    assert bytes(till.key).hex() not in blob


def test_each_wrong_consent_names_what_is_wrong(till) -> None:
    join = consent.request(bytes(till.key), CHAIN, MINING, store_id("Shop A"), 600, now=NOW)
    other = Account.create()
    with pytest.raises(BadInput, match=f"from till {till.address}, not --till {other.address}"):
        _check(join, other)
    with pytest.raises(BadInput, match="another store .* not 'Shop B'"):
        _check(join, till, store="Shop B")
    with pytest.raises(BadInput, match="expired at .*block time now"):
        _check(join, till, now=NOW + 601)
    _check(join, till, now=NOW + 600)  # the deadline itself is still valid, as on chain
    with pytest.raises(BadInput, match="another deployment"):
        _check(join, till, chain_id=1)
    with pytest.raises(BadInput, match="another deployment"):
        _check(join, till, mining="0x" + "cd" * 20)
    # a consent signed by another key but claiming to be the till's
    forged = consent.sign(bytes(other.key), CHAIN, MINING, store_id("Shop A"), NOW + 600)
    forged = consent.JoinConsent(till.address, forged.store_id, forged.deadline, forged.signature)
    with pytest.raises(BadInput, match="signature is not till"):
        _check(forged, till)


@pytest.mark.parametrize(
    ("blob", "why"),
    [
        ("", "has 0 bytes, expected 125"),
        ("0x1234", "has 2 bytes, expected 125"),
        ("0x" + "gg" * 125, "not hex"),
        ("0x" + "00" * 126, "has 126 bytes"),
        ("0x" + "11" * 52 + "00" * 8 + "22" * 65, "deadline 0"),
        ("0x" + "é" * 250, "not hex"),
    ],
)
def test_malformed_blobs_are_bad_input(blob: str, why: str) -> None:
    with pytest.raises(BadInput, match=why):
        consent.decode(blob)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_decode_never_crashes(text: str) -> None:
    try:
        consent.decode(text)
    except BadInput:
        pass


@pytest.mark.parametrize(
    ("text", "seconds"), [("1d", 86400), ("12h", 43200), ("30m", 1800), ("90s", 90), ("600", 600)]
)
def test_durations(text: str, seconds: int) -> None:
    assert consent.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1w", "-1d", "1.5h", "367d", "999999999d", "1 d x"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadInput, match="--valid-for"):
        consent.parse_duration(text)
