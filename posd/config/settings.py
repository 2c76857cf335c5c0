"""Configuration: TOML with a default for every key (DESIGN §6).

A file holds only what differs from the defaults. Every error names the file, the key and what
was expected, so a store owner can fix it without reading code.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import tomli_w

from drivers.entries import device_from_config
from posd.config import features
from posd.config.features import DsgConfig, GatewayConfig, MembershipConfig, PosLinkConfig
from posd.errors import BadInput

DEFAULT_PATH = Path("/etc/posd/posd.toml")
# redacted by `config show` and the support bundle wherever they appear (sections and devices)
SECRET_KEYS = {"token", "passphrase", "private_key", "password", "secret", "api_key", "seed"}


class ConfigError(BadInput, ValueError):
    """A configuration problem, phrased for the person who edits the file."""

    code = "bad_config"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "posd"


@dataclass
class StoreConfig:
    name: str = "Demo Store"
    address: str = ""
    tax_id: str = ""
    currency: str = "EUR"
    # EAN-13 codes with prefix 20-29 carry a price ("price") or a weight in grams ("weight")
    # in digits 8-12; the catalog row is the code's first 7 digits.
    embedded: str = "price"
    timezone: str = ""  # IANA name for the day of `posd report`; empty: the system's


@dataclass
class TillConfig:
    name: str = "till-1"
    state_dir: str = ""  # empty: $XDG_STATE_HOME/posd
    key_file: str = ""  # empty: <state_dir>/till.key
    passphrase_file: str = ""
    passphrase_env: str = ""


@dataclass
class ReceiptConfig:
    width: int = 42  # 32, 42 or 48 columns
    profile: str = "default"  # python-escpos capability profile
    footer: str = "Thank you for shopping with us!"
    claim_base_url: str = "https://claim.despend.example/c"


@dataclass
class ChainConfig:
    rpc_url: str = ""
    chain_id: int = 0  # 0: ask the node once and remember it (the receipt QR carries it)
    mining_address: str = ""
    token_address: str = ""
    staking_address: str = ""  # DSGStaking (DESIGN §11): membership tiers
    profit_token_address: str = ""  # the stablecoin stakers' dividends are paid in
    flush_interval_s: int = 30
    confirmations: int = 2
    confirm: str = "blocks"  # "blocks" (use confirmations) or "finalized"
    max_batch: int = 256
    backlog_threshold: int = 256  # flush at once when this many proofs wait
    max_fee_gwei: float = 200.0
    tx_timeout_s: int = 60
    retention_days: int = 90
    low_balance_batches: int = 20
    reward_rate: int = 10**16  # DSG wei per minor unit, for the receipt's estimate


@dataclass
class ApiConfig:
    port: int = 8710
    token: str = ""


@dataclass
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    till: TillConfig = field(default_factory=TillConfig)
    receipt: ReceiptConfig = field(default_factory=ReceiptConfig)
    chain: ChainConfig = field(default_factory=ChainConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    dsg: DsgConfig = field(default_factory=DsgConfig)
    membership: MembershipConfig = field(default_factory=MembershipConfig)
    pos_link: PosLinkConfig = field(default_factory=PosLinkConfig)
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    device: list[dict[str, Any]] = field(default_factory=list)
    path: Path | None = None
    state_dir_override: str = ""
    explicit: set[str] = field(default_factory=set)  # "section.key" set by the file

    @property
    def state_dir(self) -> Path:
        chosen = self.state_dir_override or self.till.state_dir
        return Path(chosen).expanduser() if chosen else default_state_dir()

    @property
    def key_file(self) -> Path:
        return (
            Path(self.till.key_file).expanduser()
            if self.till.key_file
            else self.state_dir / "till.key"
        )

    @property
    def db_path(self) -> Path:
        return self.state_dir / "posd.db"

    def to_dict(self, redact: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if is_dataclass(value):
                out[f.name] = _redact(asdict(value)) if redact else asdict(value)
        out["device"] = [_redact(d) if redact else dict(d) for d in self.device]
        return out


def _redact(table: dict[str, Any]) -> dict[str, Any]:
    return {k: ("<redacted>" if k in SECRET_KEYS and v else v) for k, v in table.items()}


_SECTIONS = {
    "store": StoreConfig,
    "till": TillConfig,
    "receipt": ReceiptConfig,
    "chain": ChainConfig,
    "api": ApiConfig,
    **features.SECTIONS,
}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
}


def _check_value(where: str, key: str, value: Any, expected: type) -> Any:
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is int and isinstance(value, bool):
        raise ConfigError(f"{where} {key}: expected {_TYPE_NAMES[int]}, got {value!r}")
    if not isinstance(value, expected):
        raise ConfigError(f"{where} {key}: expected {_TYPE_NAMES[expected]}, got {value!r}")
    return value


MAX_CHAIN_ID = (1 << 64) - 1  # the receipt QR's 8-byte field (DESIGN §5)
MIN_TOKEN = 16
_HTTP_URL = re.compile(r"https?://[^\s/?#]+[^\s]*", re.ASCII)
_TOKEN = re.compile(r"[\x21-\x7e]{1,256}")
_HEX_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
CHAIN_ADDRESS_KEYS = ("mining_address", "token_address", "staking_address", "profit_token_address")
_CHAIN_RANGES: list[features.Range] = [
    ("confirmations", 0, 10_000, "0 or more blocks (at most 10000)"),
    ("flush_interval_s", 1, 86_400, "1 or more seconds (at most a day)"),
    ("backlog_threshold", 1, 1_000_000, "1 or more proofs"),
    ("tx_timeout_s", 1, 86_400, "1 or more seconds"),
    ("retention_days", 0, 36_500, "0 or more days"),
    ("low_balance_batches", 0, 1_000_000, "0 or more batches"),
    ("reward_rate", 0, (1 << 256) - 1, "0 or more DSG wei per minor unit"),
]


def address_problem(value: str) -> str:
    """What is wrong with a configured contract address ("" when it is fine or empty).

    Mixed case must be the EIP-55 checksum (a typo in one hex digit is then caught); all lower
    or all upper case carries no checksum and is accepted.
    """
    if not value:
        return ""
    if not _HEX_ADDRESS.fullmatch(value):
        return "a 0x-prefixed address of 40 hex digits"
    digits = value[2:]
    if digits.lower() == digits or digits.upper() == digits:
        return ""
    from Crypto.Hash import keccak  # only for a mixed-case address; keeps `config show` fast

    digest = keccak.new(data=digits.lower().encode("ascii"), digest_bits=256).hexdigest()
    expected = "".join(
        c.upper() if int(d, 16) >= 8 else c for c, d in zip(digits.lower(), digest, strict=False)
    )
    if digits != expected:
        return (
            f"a valid EIP-55 checksum (mixed case must read 0x{expected}; or write all lower case)"
        )
    return ""


def _validate(cfg: Config, src: str) -> None:
    def bad(section: str, key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{src}: [{section}] {key}: expected {expected}, got {got!r}")

    if cfg.receipt.width not in (32, 42, 48):
        raise bad("receipt", "width", "32, 42 or 48", cfg.receipt.width)
    cur = cfg.store.currency
    if not (len(cur) == 3 and cur.isascii() and cur.isalpha() and cur.isupper()):
        raise bad("store", "currency", "an ISO 4217 code like EUR", cur)
    if cfg.store.embedded not in ("price", "weight"):
        raise bad("store", "embedded", '"price" or "weight"', cfg.store.embedded)
    if not cfg.store.name.strip():
        raise bad("store", "name", "a name for the receipt and the store id", cfg.store.name)
    if not cfg.till.name.strip():
        raise bad("till", "name", "a name for the receipt", cfg.till.name)
    if not 1 <= cfg.chain.max_batch <= 256:
        raise bad("chain", "max_batch", "1..256", cfg.chain.max_batch)
    if cfg.chain.confirm not in ("blocks", "finalized"):
        raise bad("chain", "confirm", '"blocks" or "finalized"', cfg.chain.confirm)
    chain = cfg.chain
    if not 0 <= chain.chain_id <= MAX_CHAIN_ID:
        raise bad("chain", "chain_id", "0 (ask the node) or a chain id 1..2^64-1", chain.chain_id)
    features.check_ranges(bad, "chain", chain, _CHAIN_RANGES)
    if not (math.isfinite(chain.max_fee_gwei) and chain.max_fee_gwei > 0):
        raise bad("chain", "max_fee_gwei", "a positive number of gwei", chain.max_fee_gwei)
    if chain.rpc_url and not _HTTP_URL.fullmatch(chain.rpc_url):
        raise bad("chain", "rpc_url", "an http:// or https:// URL of the node", chain.rpc_url)
    for name in CHAIN_ADDRESS_KEYS:
        problem = address_problem(getattr(chain, name))
        if problem:
            raise bad("chain", name, problem, getattr(chain, name))
    url = cfg.receipt.claim_base_url
    if not _HTTP_URL.fullmatch(url) or "#" in url:
        raise bad(
            "receipt", "claim_base_url", "an https:// URL without a '#' (the QR adds it)", url
        )
    if not 0 <= cfg.api.port <= 65535:
        raise bad("api", "port", "0..65535", cfg.api.port)
    token = cfg.api.token
    if token and len(token) < MIN_TOKEN:
        raise bad("api", "token", f"at least {MIN_TOKEN} characters (or empty: generated)", "…")
    if token and not _TOKEN.fullmatch(token):
        raise bad("api", "token", "printable ASCII with no spaces, at most 256 characters", "…")
    if cfg.store.timezone:
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(cfg.store.timezone)
        except (ValueError, KeyError, OSError):
            raise bad(
                "store", "timezone", 'an IANA time zone like "Europe/Berlin"', cfg.store.timezone
            ) from None
    features.validate(cfg, bad, address_problem)
    for i, dev in enumerate(cfg.device, start=1):
        where = f"{src}: [[device]] #{i}"
        try:
            device_from_config(dev)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None


def from_dict(data: dict[str, Any], src: str = "<config>") -> Config:
    """Build a validated Config from parsed TOML, naming the first thing that is wrong."""
    cfg = Config()
    for section, value in data.items():
        if section == "device":
            if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
                raise ConfigError(f"{src}: device: expected [[device]] tables")
            cfg.device = [dict(d) for d in value]
            continue
        if section not in _SECTIONS:
            raise ConfigError(
                f"{src}: unknown section [{section}] (known: {', '.join([*_SECTIONS, 'device'])})"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{src}: {section}: expected a [{section}] table")
        target = getattr(cfg, section)
        known = {f.name: f for f in fields(target)}
        for key, item in value.items():
            if key not in known:
                raise ConfigError(
                    f"{src}: [{section}] {key}: unknown key (known: {', '.join(known)})"
                )
            expected = type(getattr(target, key))
            setattr(target, key, _check_value(f"{src}: [{section}]", key, item, expected))
            cfg.explicit.add(f"{section}.{key}")
    _validate(cfg, src)
    return cfg


def load(path: Path | str | None, state_dir: str | None = None, required: bool = True) -> Config:
    """Load ``path`` (or the defaults when it is None / absent and not required)."""
    if path is None:
        cfg = Config()
    else:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if required:
                raise ConfigError(f"{path}: no such config file") from None
            text = ""
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        cfg = from_dict(data, str(path))
        cfg.path = path
    if state_dir:
        cfg.state_dir_override = state_dir
    return cfg


def set_values(path: Path | str, values: dict[str, dict[str, Any]]) -> None:
    """Merge ``values`` ({section: {key: value}}) into the TOML file at ``path``, atomically."""
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    for section, items in values.items():
        data.setdefault(section, {}).update(items)
    from_dict(data, str(path))  # never write a file we would refuse to read
    write_toml(path, data)


def write_toml(path: Path, data: dict[str, Any], mode: int = 0o640) -> None:
    tmp = path.with_name(path.name + ".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        tomli_w.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


RECORDED = "simulate.json"


def apply_recorded(cfg: Config) -> None:
    """Use what a `--simulate` daemon recorded in the state dir (RPC URL, contracts, API token)."""
    try:
        rec = json.loads((cfg.state_dir / RECORDED).read_text())
    except (OSError, ValueError):
        return
    if not cfg.chain.rpc_url:
        cfg.chain.rpc_url = rec.get("rpc_url", "")
        for key in CHAIN_ADDRESS_KEYS:
            setattr(cfg.chain, key, getattr(cfg.chain, key) or rec.get(key, ""))
    if not cfg.api.token:
        cfg.api.token = rec.get("api_token", "")
    if "api_port" in rec and "api.port" not in cfg.explicit:
        cfg.api.port = int(rec["api_port"])
    if rec.get("gateway_url") and "receipt.claim_base_url" not in cfg.explicit:
        cfg.receipt.claim_base_url = rec["gateway_url"]  # --simulate's claim gateway (§9)
