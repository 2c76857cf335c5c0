"""The key file keeps every claim seed under a seed_id (DESIGN §2), and today's files still load."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_account import Account

from posd.config import keyfile
from posd.proof.claimcode import claim_key


def _write_v1(path: Path, body: dict) -> None:
    """A key file exactly as the code before seed_ids wrote it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"version": 1, **body}, fh, indent=2)


def test_version_1_plain_key_file_loads_as_seed_1(tmp_path: Path) -> None:
    key, seed = os.urandom(32), os.urandom(32)
    seed = bytes([1]) + seed[1:]  # any 32 bytes is a seed
    key = bytes([1]) + key[1:]  # below the curve order
    path = tmp_path / "till.key"
    _write_v1(path, {"encrypted": False, "till_key": key.hex(), "claim_seed": seed.hex()})
    keys = keyfile.load(path)
    assert keys.private_key == key and keys.claim_seed == seed
    assert keys.seed_id == 1 and keys.seed_ids == [1] and keys.seed(1) == seed


def test_version_1_encrypted_key_file_loads_and_gains_seeds(tmp_path: Path) -> None:
    key, seed = b"\x01" * 32, b"\x02" * 32
    kdf = {"kdf": "pbkdf2", "iterations": 1000}
    path = tmp_path / "till.key"
    _write_v1(
        path,
        {
            "encrypted": True,
            "till_key": Account.encrypt(key, "pw", **kdf),
            "claim_seed": Account.encrypt(seed, "pw", **kdf),
        },
    )
    keys = keyfile.load(path, "pw")
    assert (keys.private_key, keys.claim_seed, keys.seed_id) == (key, seed, 1)
    newer = keyfile.add_seed(path, keys, "pw")
    assert newer.seed_id == 2 and newer.claim_seed != seed
    text = path.read_text()
    assert seed.hex() not in text and newer.claim_seed.hex() not in text
    again = keyfile.load(path, "pw")
    assert again.seed_id == 2 and again.claim_seed == newer.claim_seed
    assert again.seed(1) == seed  # decrypted on demand, for a reprint of an old sale
    assert again.knows(keyfile.fingerprint(seed)) == 1
    assert again.knows(again.fingerprint) == 2 and again.knows("00" * 8) is None
    assert "pw" not in repr(again) and seed.hex() not in repr(again)


def test_every_seed_is_kept_and_derives_its_claim_keys(tmp_path: Path) -> None:
    path = tmp_path / "till.key"
    keys = keyfile.generate()
    keyfile.save(path, keys)
    seeds = {1: keys.claim_seed}
    for expected in (2, 3, 4):
        keys = keyfile.add_seed(path, keys, None)
        assert keys.seed_id == expected
        seeds[expected] = keys.claim_seed
    loaded = keyfile.load(path)
    assert loaded.seed_ids == [1, 2, 3, 4] and len(set(seeds.values())) == 4
    for seed_id, seed in seeds.items():
        assert claim_key(loaded.seed(seed_id), loaded.address, 7) == claim_key(
            seed, keys.address, 7
        )
    with pytest.raises(keyfile.KeyFileError, match="no claim seed 9"):
        loaded.seed(9)
    assert os.stat(path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "older",
    [
        "nope",
        [{"seed_id": 1}],
        [{"seed_id": "1", "fingerprint": "x", "claim_seed": "00" * 32}],
        [{"seed_id": 2, "fingerprint": "x", "claim_seed": "00" * 32}],  # the current id
        [{"seed_id": 1, "fingerprint": "x", "claim_seed": "zz"}],
    ],
)
def test_malformed_older_seeds_are_named(tmp_path: Path, older) -> None:
    path = tmp_path / "till.key"
    keys = keyfile.generate()
    keyfile.save(path, keys)
    body = json.loads(path.read_text())
    body.update(seed_id=2, older_seeds=older)
    path.write_text(json.dumps(body))
    with pytest.raises(keyfile.KeyFileError, match="till.key"):
        keyfile.load(path)
