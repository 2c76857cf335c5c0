"""What the chain tools share: the signing account, the RPC and the config's chain defaults.

Every option works without a config file (explicit --rpc, --mining); with one, `[chain] rpc_url`
and `[chain] mining_address` are the defaults. web3 and eth-account load inside the functions
that talk to a chain, so `posd --help` never pays for them.
"""

from __future__ import annotations

import functools
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from posd.cli.common import app_context
from posd.config import keyfile
from posd.config.settings import Config

if TYPE_CHECKING:
    from collections.abc import Callable

    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.contract import Contract


def config_or_none(ctx: click.Context) -> Config | None:
    """The loaded config, when there is one (never required: explicit options still work)."""
    try:
        return app_context(ctx).config
    except Exception:  # noqa: BLE001 - a missing or broken config only loses the defaults
        return None


def config_path(ctx: click.Context) -> Path | None:
    return app_context(ctx).config_file()


def chain_setting(ctx: click.Context, name: str) -> str:
    cfg = config_or_none(ctx)
    return str(getattr(cfg.chain, name, "") or "") if cfg is not None else ""


def connect(ctx: click.Context, rpc: str | None) -> Web3:
    """A web3 connection to --rpc (else [chain] rpc_url), checked with one call."""
    from web3 import Web3

    url = rpc or chain_setting(ctx, "rpc_url")
    if not url:
        raise click.UsageError("no RPC URL: pass --rpc URL (or set [chain] rpc_url in the config)")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        w3.eth.chain_id  # noqa: B018 - fail early with a clear message
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"cannot reach the RPC at {url}: {exc}") from None
    return w3


def load_account(
    private_key: str | None,
    keystore: str | None,
    passphrase_file: str | None = None,
    passphrase_env: str | None = None,
) -> LocalAccount:
    """The signing account from --private-key (dev chains) or an eth-account keystore file."""
    from eth_account import Account

    if bool(private_key) == bool(keystore):
        raise click.UsageError("give exactly one of --private-key HEX or --keystore FILE")
    if private_key:
        try:
            return Account.from_key(private_key)
        except (ValueError, TypeError):
            raise click.UsageError("--private-key is not a valid 32-byte hex key") from None
    try:
        data = json.loads(Path(keystore).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot read keystore {keystore}: {exc}") from None
    passphrase = keyfile.read_passphrase(passphrase_file, passphrase_env, "keystore passphrase")
    if passphrase is None:
        if not sys.stdin.isatty():
            raise click.UsageError("--keystore needs --passphrase-file F or --passphrase-env VAR")
        passphrase = click.prompt("Keystore passphrase", hide_input=True)
    try:
        return Account.from_key(Account.decrypt(data, passphrase))
    except ValueError:
        raise click.ClickException(f"wrong passphrase for keystore {keystore}") from None


@dataclass(frozen=True)
class Signer:
    """Where a sending command signs and sends: its --rpc and key options, read together."""

    rpc: str | None
    private_key: str | None
    keystore: str | None
    passphrase_file: str | None
    passphrase_env: str | None

    def connect(self, ctx: click.Context) -> tuple[LocalAccount, Web3]:
        """The account first (bad key options fail before any network), then the RPC."""
        account = load_account(
            self.private_key, self.keystore, self.passphrase_file, self.passphrase_env
        )
        return account, connect(ctx, self.rpc)


_SIGNER_FIELDS = ("rpc", "private_key", "keystore", "passphrase_file", "passphrase_env")


def signer_options(func: Any) -> Any:
    """--rpc, --private-key | --keystore (+ passphrase source), --json on every sending command.

    The command receives them as ``signer: Signer`` and ``as_json: bool``.
    """

    @functools.wraps(func)
    def with_signer(*args: Any, **kwargs: Any) -> Any:
        signer = Signer(**{name: kwargs.pop(name) for name in _SIGNER_FIELDS})
        return func(*args, signer=signer, **kwargs)

    for option in reversed(
        [
            click.option("--rpc", "rpc", metavar="URL", help="JSON-RPC URL ([chain] rpc_url)."),
            click.option("--private-key", metavar="HEX", help="Signing key (dev chains only)."),
            click.option("--keystore", metavar="FILE", type=click.Path(dir_okay=False)),
            click.option("--passphrase-file", metavar="F", type=click.Path(dir_okay=False)),
            click.option("--passphrase-env", metavar="VAR"),
            click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
        ]
    ):
        with_signer = option(with_signer)
    return with_signer


mining_option = click.option(
    "--mining", metavar="ADDR", help="Mining contract ([chain] mining_address)."
)


def mining_at(ctx: click.Context, w3: Web3, mining: str | None) -> Contract:
    """The mining contract from --mining (else [chain] mining_address), checked to have code."""
    from posd.chain import contracts

    return contract_at(ctx, w3, mining, "mining", contracts.mining_contract)


def contract_at(
    ctx: click.Context,
    w3: Web3,
    given: str | None,
    name: str,
    build: Callable[[Web3, str], Contract],
) -> Contract:
    """The ``name`` contract from --NAME (else ``[chain] NAME_address``), checked to have code."""
    address = configured_address(ctx, given, name)
    checksummed = checked_address(address, f"--{name}")
    if not w3.eth.get_code(checksummed):
        raise click.ClickException(f"no contract at {address} on chain {w3.eth.chain_id}")
    return build(w3, checksummed)


def configured_address(ctx: click.Context, given: str | None, name: str) -> str:
    """--NAME, else ``[chain] NAME_address``, as written; a usage error when neither is set."""
    address = given or chain_setting(ctx, f"{name}_address")
    if not address:
        raise click.UsageError(
            f"no {name} contract: pass --{name} ADDR (or set [chain] {name}_address)"
        )
    return address


def checked_address(value: str, flag: str) -> str:
    """``value`` checksummed, or a usage error naming the flag."""
    from web3 import Web3

    if not Web3.is_address(value):
        raise click.UsageError(f"{flag} {value!r} is not an address")
    return Web3.to_checksum_address(value)


def emit_one(data: dict[str, Any], as_json: bool, text: str) -> None:
    """One JSON object on one line (--json), else the human line."""
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)
