"""The till key file: the device key (till address) and the claim seed (DESIGN §2, §6).

Both secrets live only here — never in SQLite, never in logs. The file is either encrypted
(one eth-account keystore per secret, passphrase from a file or an environment variable) or
plain hex with mode 0600; posd refuses a key file that others can read.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_utils import keccak

from posd.claimcode import SECP256K1_N, address_of


class KeyFileError(RuntimeError):
    """The key file is missing, unreadable, unsafe or cannot be decrypted."""


@dataclass(frozen=True)
class TillKeys:
    private_key: bytes
    claim_seed: bytes

    def __repr__(self) -> str:  # never print the secrets
        return f"TillKeys(address={self.address})"

    @property
    def address(self) -> str:
        return address_of(self.private_key)

    @property
    def seed_id(self) -> str:
        """A public fingerprint of the claim seed, so the database can tell whether it knows it."""
        return keccak(b"posd-seed-id" + self.claim_seed).hex()[:16]


def _random_scalar() -> bytes:
    while True:
        key = secrets.token_bytes(32)
        if 0 < int.from_bytes(key, "big") < SECP256K1_N:
            return key


def generate() -> TillKeys:
    return TillKeys(private_key=_random_scalar(), claim_seed=_random_scalar())


def read_passphrase(passphrase_file: str = "", passphrase_env: str = "") -> str | None:
    if passphrase_file:
        try:
            return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise KeyFileError(
                f"{passphrase_file}: cannot read the passphrase file: {exc}"
            ) from None
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if value is None:
            raise KeyFileError(
                f"environment variable {passphrase_env} (the key passphrase) is not set"
            )
        return value
    return None


def save(
    path: Path, keys: TillKeys, passphrase: str | None = None, *, fast_kdf: bool = False
) -> None:
    """Write the key file atomically, mode 0600 (encrypted when a passphrase is given)."""
    if passphrase:
        kdf = {"kdf": "pbkdf2", "iterations": 1000} if fast_kdf else {"kdf": "scrypt"}
        body = {
            "version": 1,
            "encrypted": True,
            "till_key": Account.encrypt(keys.private_key, passphrase, **kdf),
            "claim_seed": Account.encrypt(keys.claim_seed, passphrase, **kdf),
        }
    else:
        body = {
            "version": 1,
            "encrypted": False,
            "till_key": keys.private_key.hex(),
            "claim_seed": keys.claim_seed.hex(),
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load(path: Path, passphrase: str | None = None) -> TillKeys:
    """Read the key file, refusing one that group or others can read."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no key file (create one with `posd config init`)") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise KeyFileError(
            f"{path}: key file is readable by others (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run `chmod 600 {path}`"
        )
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        encrypted = bool(body["encrypted"])
        raw = (body["till_key"], body["claim_seed"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a posd key file ({type(exc).__name__})") from None
    if encrypted:
        if not passphrase:
            raise KeyFileError(
                f"{path}: key file is encrypted; set [till] passphrase_file or passphrase_env"
            )
        try:
            key, seed = (bytes(Account.decrypt(item, passphrase)) for item in raw)
        except ValueError:
            raise KeyFileError(f"{path}: wrong passphrase for the key file") from None
    else:
        try:
            key, seed = (bytes.fromhex(item) for item in raw)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: till_key / claim_seed are not hex") from None
    if len(key) != 32 or len(seed) != 32:
        raise KeyFileError(f"{path}: till_key and claim_seed must be 32 bytes each")
    return TillKeys(private_key=key, claim_seed=seed)


def rotate_seed(path: Path, keys: TillKeys, passphrase: str | None) -> TillKeys:
    """New claim seed, same till key: no receipt printed before can match a new sale."""
    fresh = TillKeys(private_key=keys.private_key, claim_seed=_random_scalar())
    save(path, fresh, passphrase)
    return fresh
