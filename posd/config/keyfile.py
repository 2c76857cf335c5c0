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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posd.errors import BadInput

if TYPE_CHECKING:
    from posd.config.settings import Config

# eth-account (half a second to import) loads only to encrypt or decrypt a keystore, and the
# claim-key helpers only when a key is made or an address derived: importing this module is cheap.


class KeyFileError(BadInput, RuntimeError):
    """The key file is missing, unreadable, unsafe or cannot be decrypted."""

    code = "key_file"


@dataclass(frozen=True)
class TillKeys:
    """The till key and its claim seeds: the current one (``seed_id``) and every older one.

    A seed is never dropped: each sale records the ``seed_id`` it was made under, so a reprint
    derives its claim key from the right seed (DESIGN §2). Older seeds of an encrypted key file
    are decrypted only when a reprint needs one (scrypt takes seconds on a till).
    """

    private_key: bytes
    claim_seed: bytes
    seed_id: int = 1
    # older seeds: (seed_id, fingerprint, hex or keystore as the key file holds it)
    older: tuple[tuple[int, str, Any], ...] = field(default=(), repr=False)
    passphrase: str | None = field(default=None, repr=False, compare=False)
    _cache: dict[int, bytes] = field(default_factory=dict, repr=False, compare=False)

    def __repr__(self) -> str:  # never print the secrets
        return f"TillKeys(address={self.address}, seed_id={self.seed_id})"

    @property
    def address(self) -> str:
        from posd.proof.claimcode import address_of

        return address_of(self.private_key)

    @property
    def fingerprint(self) -> str:
        """A public fingerprint of the current claim seed (the database binds to it)."""
        return fingerprint(self.claim_seed)

    @property
    def seed_ids(self) -> list[int]:
        return sorted([self.seed_id, *(i for i, _, _ in self.older)])

    def seed(self, seed_id: int) -> bytes:
        """The claim seed kept under ``seed_id`` (KeyFileError when the key file lacks it)."""
        if seed_id == self.seed_id:
            return self.claim_seed
        if seed_id not in self._cache:
            raw = next((r for i, _, r in self.older if i == seed_id), None)
            if raw is None:
                raise KeyFileError(
                    f"the key file has no claim seed {seed_id} (it has {self.seed_ids}): "
                    "was an older key file restored?"
                )
            self._cache[seed_id] = _decode_secret(raw, self.passphrase, f"claim seed {seed_id}")
        return self._cache[seed_id]

    def knows(self, seed_fingerprint: str | None) -> int | None:
        """The seed_id whose fingerprint this is, or None when the key file never held it."""
        if seed_fingerprint == self.fingerprint:
            return self.seed_id
        return next((i for i, fp, _ in self.older if fp == seed_fingerprint), None)


def fingerprint(claim_seed: bytes) -> str:
    """A public fingerprint of a claim seed, so the database can tell whether it knows it."""
    from posd.proof.claimcode import keccak256

    return keccak256(b"posd-seed-id" + claim_seed).hex()[:16]


def _hex32(text: str) -> bytes:
    value = bytes.fromhex(text)
    if len(value) != 32:
        raise ValueError("not 32 bytes")
    return value


def _decode_secret(raw: Any, passphrase: str | None, what: str) -> bytes:
    """A secret as the key file stores it: hex (plain file) or an eth-account keystore."""
    if isinstance(raw, str):
        return _hex32(raw)
    if not passphrase:
        raise KeyFileError(f"{what} is encrypted; set [till] passphrase_file or passphrase_env")
    from eth_account import Account

    try:
        return bytes(Account.decrypt(raw, passphrase))
    except ValueError:
        raise KeyFileError("wrong passphrase for the key file") from None


def _random_scalar() -> bytes:
    from posd.proof.claimcode import SECP256K1_N

    while True:
        key = secrets.token_bytes(32)
        if 0 < int.from_bytes(key, "big") < SECP256K1_N:
            return key


def generate() -> TillKeys:
    return TillKeys(private_key=_random_scalar(), claim_seed=_random_scalar())


def read_passphrase(
    passphrase_file: str | Path | None = "",
    passphrase_env: str | None = "",
    what: str = "key passphrase",
) -> str | None:
    """The passphrase from a file (its trailing newline dropped) or an environment variable.

    The one reader for the till's key file and the store owner's keystore (``what`` names which
    in the error); None when neither source is given.
    """
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
            raise KeyFileError(f"environment variable {passphrase_env} (the {what}) is not set")
        return value
    return None


def load_configured(cfg: Config) -> tuple[TillKeys, str | None]:
    """The till's keys as the config names them ([till] key_file and passphrase), and the passphrase."""
    passphrase = read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
    return load(cfg.key_file, passphrase), passphrase


def _encode_secret(secret: bytes, passphrase: str | None, fast_kdf: bool) -> Any:
    if not passphrase:
        return secret.hex()
    from eth_account import Account

    kdf = {"kdf": "pbkdf2", "iterations": 1000} if fast_kdf else {"kdf": "scrypt"}
    return Account.encrypt(secret, passphrase, **kdf)


def save(
    path: Path, keys: TillKeys, passphrase: str | None = None, *, fast_kdf: bool = False
) -> None:
    """Write the key file atomically, mode 0600 (encrypted when a passphrase is given)."""
    older = [
        {
            "seed_id": i,
            "fingerprint": fp,
            "claim_seed": _encode_secret(keys.seed(i), passphrase, fast_kdf),
        }
        for i, fp, _ in keys.older
    ]
    _write(
        path,
        {
            "version": 2,
            "encrypted": bool(passphrase),
            "till_key": _encode_secret(keys.private_key, passphrase, fast_kdf),
            "claim_seed": _encode_secret(keys.claim_seed, passphrase, fast_kdf),
            "seed_id": keys.seed_id,
            "older_seeds": older,
        },
    )


def _write(path: Path, body: dict[str, Any]) -> None:
    """Atomically: temporary file, fsync, rename, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(body, fh, indent=2)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def _read_body(path: Path) -> dict[str, Any]:
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
        body["till_key"], body["claim_seed"], body["encrypted"]  # noqa: B018 - required keys
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"{path}: not a posd key file ({type(exc).__name__})") from None
    return body


def _older(path: Path, body: dict[str, Any], current: int) -> tuple[tuple[int, str, Any], ...]:
    """The older seeds of a version-2 file (a version-1 file has none), checked for shape."""
    out: list[tuple[int, str, Any]] = []
    try:
        for entry in body.get("older_seeds") or []:
            seed_id, fp, raw = entry["seed_id"], entry["fingerprint"], entry["claim_seed"]
            if not isinstance(seed_id, int) or not isinstance(fp, str) or seed_id == current:
                raise ValueError(seed_id)
            if isinstance(raw, str):
                _hex32(raw)
            elif not isinstance(raw, dict):
                raise TypeError(raw)
            out.append((seed_id, fp, raw))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KeyFileError(f"{path}: older_seeds is malformed") from None
    if len({i for i, _, _ in out}) != len(out):
        raise KeyFileError(f"{path}: older_seeds repeats a seed_id")
    return tuple(out)


def load(path: Path, passphrase: str | None = None) -> TillKeys:
    """Read the key file (version 1 or 2), refusing one that group or others can read."""
    body = _read_body(path)
    encrypted = bool(body["encrypted"])
    raw = (body["till_key"], body["claim_seed"])
    seed_id = body.get("seed_id", 1)
    if not isinstance(seed_id, int) or isinstance(seed_id, bool) or seed_id < 1:
        raise KeyFileError(f"{path}: seed_id must be a whole number ≥ 1")
    older = _older(path, body, seed_id)
    if encrypted:
        if not passphrase:
            raise KeyFileError(
                f"{path}: key file is encrypted; set [till] passphrase_file or passphrase_env"
            )
        from eth_account import Account

        try:
            key, seed = (bytes(Account.decrypt(item, passphrase)) for item in raw)
        except ValueError:
            raise KeyFileError(f"{path}: wrong passphrase for the key file") from None
        except (TypeError, KeyError, AttributeError):
            raise KeyFileError(f"{path}: till_key / claim_seed are not keystores") from None
    else:
        try:
            key, seed = (bytes.fromhex(item) for item in raw)
        except (ValueError, TypeError):
            raise KeyFileError(f"{path}: till_key / claim_seed are not hex") from None
    if len(key) != 32 or len(seed) != 32:
        raise KeyFileError(f"{path}: till_key and claim_seed must be 32 bytes each")
    return TillKeys(key, seed, seed_id, older, passphrase if encrypted else None)


def add_seed(path: Path, keys: TillKeys, passphrase: str | None, above: int = 0) -> TillKeys:
    """A new claim seed under the next seed_id, the current one kept as an older seed.

    ``above``: the new id is greater (the highest id the database's sales recorded: a key file
    restored from before a seed must not give a lost seed's id to a new one).

    No receipt printed before can match a sale under the new seed; reprints of old sales still
    find theirs. Older entries are copied as stored (no re-encryption); only the new seed is
    encrypted, with the file's own protection.
    """
    body = _read_body(path)
    encrypted = bool(body["encrypted"])
    if encrypted and not passphrase:
        raise KeyFileError(f"{path}: key file is encrypted; a passphrase is needed to add a seed")
    current = body.get("seed_id", 1)
    older = list(_older(path, body, current))
    if current != keys.seed_id:
        raise KeyFileError(f"{path}: another process changed the key file; restart posd")
    older.append((current, keys.fingerprint, body["claim_seed"]))
    new_id = max(above, *(i for i, _, _ in older)) + 1
    fresh = _random_scalar()
    body.update(
        version=2,
        claim_seed=_encode_secret(fresh, passphrase if encrypted else None, False),
        seed_id=new_id,
        older_seeds=[{"seed_id": i, "fingerprint": fp, "claim_seed": r} for i, fp, r in older],
    )
    _write(path, body)
    return TillKeys(
        keys.private_key, fresh, new_id, tuple(older), passphrase if encrypted else None
    )
