"""`posd chain deploy|register-store|add-till|remove-till` and `posd claim` (DESIGN §6).

Every option works without a config file (explicit --rpc, --mining); with one, `[chain] rpc_url`
and `[chain] mining_address` are the defaults. `chain status` is the lead's (it needs the DB).
"""

from __future__ import annotations

import functools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from posd import contracts
from posd.contracts import ChainError


def _config(ctx: click.Context) -> Any | None:
    """The lead's loaded config, when there is one (never required)."""
    obj = ctx.find_root().obj
    if obj is None or not hasattr(obj, "config"):
        return None
    try:
        return obj.config
    except (click.ClickException, Exception):  # noqa: BLE001 - explicit options still work
        return None


def _config_path(ctx: click.Context) -> Path | None:
    obj = ctx.find_root().obj
    path = getattr(obj, "config_path", None)
    if path is not None:
        return Path(path)
    try:
        from posd import config as configmod

        default = Path(configmod.DEFAULT_PATH)
        return default if default.exists() else None
    except (ImportError, AttributeError):
        return None


def _chain_setting(ctx: click.Context, name: str) -> str:
    cfg = _config(ctx)
    chain = getattr(cfg, "chain", None)
    return str(getattr(chain, name, "") or "")


def _web3(ctx: click.Context, rpc: str | None) -> Web3:
    url = rpc or _chain_setting(ctx, "rpc_url")
    if not url:
        raise click.UsageError("no RPC URL: pass --rpc URL (or set [chain] rpc_url in the config)")
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    try:
        w3.eth.chain_id  # noqa: B018 - fail early with a clear message
    except Exception as exc:  # noqa: BLE001
        raise click.ClickException(f"cannot reach the RPC at {url}: {exc}") from None
    return w3


def _read_passphrase(passphrase_file: str | None, passphrase_env: str | None) -> str:
    if passphrase_file:
        try:
            return Path(passphrase_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise click.ClickException(f"cannot read the passphrase file: {exc}") from None
    if passphrase_env:
        value = os.environ.get(passphrase_env)
        if value is None:
            raise click.ClickException(f"environment variable {passphrase_env} is not set")
        return value
    if sys.stdin.isatty():
        return click.prompt("Keystore passphrase", hide_input=True)
    raise click.UsageError("--keystore needs --passphrase-file F or --passphrase-env VAR")


def load_account(
    private_key: str | None,
    keystore: str | None,
    passphrase_file: str | None = None,
    passphrase_env: str | None = None,
) -> LocalAccount:
    """The signing account from --private-key (dev chains) or an eth-account keystore file."""
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
    passphrase = _read_passphrase(passphrase_file, passphrase_env)
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
        return account, _web3(ctx, self.rpc)


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


def _mining(ctx: click.Context, w3: Web3, mining: str | None) -> Any:
    address = mining or _chain_setting(ctx, "mining_address")
    if not address:
        raise click.UsageError(
            "no mining contract: pass --mining ADDR (or set [chain] mining_address)"
        )
    if not Web3.is_address(address):
        raise click.UsageError(f"--mining {address!r} is not an address")
    if not w3.eth.get_code(Web3.to_checksum_address(address)):
        raise click.ClickException(f"no contract at {address} on chain {w3.eth.chain_id}")
    return contracts.mining_contract(w3, address)


def _address(value: str, flag: str) -> str:
    if not Web3.is_address(value):
        raise click.UsageError(f"{flag} {value!r} is not an address")
    return Web3.to_checksum_address(value)


def _emit(data: dict[str, Any], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, sort_keys=True) if as_json else text)


def _chain_error(exc: ChainError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group()
def chain() -> None:
    """Deploy the DSG contracts and manage stores and tills on chain."""


@chain.command()
@signer_options
@click.option(
    "--max-supply",
    type=int,
    default=contracts.DEFAULT_MAX_SUPPLY,
    show_default=True,
    help="DSG wei cap for the halving (default 21 million DSG).",
)
@click.option("--no-write-config", is_flag=True, help="Do not record the addresses in the config.")
@click.pass_context
def deploy(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    max_supply: int,
    no_write_config: bool,
) -> None:
    """Deploy token + mining contract; the signer becomes the protocol admin."""
    account, w3 = signer.connect(ctx)
    try:
        token, mining = contracts.deploy(w3, account, max_supply=max_supply)
    except (ChainError, ValueError) as exc:
        raise click.ClickException(f"deploy failed: {exc}") from None
    result = {"token": token.address, "mining": mining.address, "chain_id": w3.eth.chain_id}
    path = None if no_write_config else _config_path(ctx)
    if path is not None:
        try:
            from posd.config import set_values
        except ImportError:
            set_values = None
        if set_values is not None:
            set_values(
                path, {"chain": {"mining_address": mining.address, "token_address": token.address}}
            )
            click.echo(f"wrote the addresses into {path}", err=True)
    _emit(result, as_json, f"token: {token.address}\nmining: {mining.address}")


@chain.command("register-store")
@signer_options
@mining_option
@click.option("--store", "store", required=True, metavar="NAME", help="storeId = keccak256(NAME).")
@click.option("--owner", required=True, metavar="ADDR")
@click.option("--currency", required=True, metavar="EUR")
@click.option("--daily-cap", required=True, type=click.IntRange(min=0), metavar="N")
@click.option("--rate", type=click.IntRange(min=0), metavar="R", help="Also setRate(currency, R).")
@click.pass_context
def register_store(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    mining: str | None,
    store: str,
    owner: str,
    currency: str,
    daily_cap: int,
    rate: int | None,
) -> None:
    """Register (or update) a store: admin only."""
    try:
        contracts.currency_code(currency)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    owner = _address(owner, "--owner")
    account, w3 = signer.connect(ctx)
    contract = _mining(ctx, w3, mining)
    try:
        receipt = contracts.register_store(
            w3, account, contract, store, owner, currency, daily_cap, rate=rate
        )
    except ChainError as exc:
        raise _chain_error(exc) from None
    sid = "0x" + contracts.store_id(store).hex()
    data = {
        "store": store,
        "store_id": sid,
        "owner": owner,
        "currency": currency.upper(),
        "daily_cap": daily_cap,
        "rate": rate,
        "tx": receipt["transactionHash"].to_0x_hex(),
    }
    _emit(data, as_json, f"store {store!r} registered as {sid}")


@chain.command("add-till")
@signer_options
@mining_option
@click.option("--store", "store", required=True, metavar="NAME")
@click.option("--till", required=True, metavar="ADDR")
@click.pass_context
def add_till(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    mining: str | None,
    store: str,
    till: str,
) -> None:
    """Authorize a till address for a store (store owner or admin)."""
    till = _address(till, "--till")
    account, w3 = signer.connect(ctx)
    contract = _mining(ctx, w3, mining)
    try:
        receipt = contracts.add_till(w3, account, contract, store, till)
    except ChainError as exc:
        raise _chain_error(exc) from None
    next_seq = contract.functions.nextSeq(till).call()
    data = {
        "store": store,
        "till": till,
        "next_seq": next_seq,
        "tx": receipt["transactionHash"].to_0x_hex(),
    }
    _emit(data, as_json, f"till {till} added to {store!r} (next seq {next_seq})")


@chain.command("remove-till")
@signer_options
@mining_option
@click.option("--till", required=True, metavar="ADDR")
@click.pass_context
def remove_till(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    mining: str | None,
    till: str,
) -> None:
    """Stop a till committing (its committed batches stay claimable)."""
    till = _address(till, "--till")
    account, w3 = signer.connect(ctx)
    contract = _mining(ctx, w3, mining)
    try:
        receipt = contracts.remove_till(w3, account, contract, till)
    except ChainError as exc:
        raise _chain_error(exc) from None
    data = {"till": till, "tx": receipt["transactionHash"].to_0x_hex()}
    _emit(data, as_json, f"till {till} removed")


@click.command()
@click.argument("url")
@click.option("--recipient", required=True, metavar="ADDR", help="Who receives the DSG.")
@signer_options
@click.option(
    "--from-block",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Search BatchCommitted logs from this block.",
)
@click.pass_context
def claim(
    ctx: click.Context,
    url: str,
    recipient: str,
    signer: Signer,
    as_json: bool,
    from_block: int,
) -> None:
    """Claim a receipt's DSG from its claim URL; the signing account pays gas."""
    from posd.claim import ClaimError
    from posd.claim import claim as do_claim
    from posd.claimcode import ClaimPayload, QrError

    try:
        payload = ClaimPayload.from_url(url)
    except QrError as exc:
        raise click.UsageError(f"bad claim URL: {exc}") from None
    recipient = _address(recipient, "--recipient")
    account, w3 = signer.connect(ctx)
    try:
        result = do_claim(w3, account, payload, recipient, from_block=from_block)
    except ClaimError as exc:
        if as_json:
            click.echo(json.dumps({"error": {"code": exc.code, "message": str(exc)}}))
            ctx.exit(1)
        raise click.ClickException(str(exc)) from None
    except ChainError as exc:
        raise _chain_error(exc) from None
    data = {
        "tx": result.tx_hash,
        "reward": result.reward,
        "recipient": result.recipient,
        "till": result.till,
        "seq": result.seq,
        "batch_index": result.batch_index,
    }
    _emit(
        data, as_json, f"claimed {result.reward / 10**18:g} DSG for {recipient} ({result.tx_hash})"
    )
