"""`posd chain deploy|register-store|join-request|add-till|remove-till|status` (DESIGN §6);
`set-tiers` and `deposit-profit` live in posd/cli/chain_staking.py.

The store owner's tools report failures the way click does (``Error: …``, exit 1), as they always
have: the group maps a PosdError (a revert, a key problem) that way, once.
"""

from __future__ import annotations

import click

from posd.chain.contracts import DEFAULT_MAX_SUPPLY, DEFAULT_TIERS_DSG
from posd.cli import chain_staking
from posd.cli.common import PosdGroup, app_context, emit, till_db
from posd.cli.signer import (
    Signer,
    checked_address,
    config_path,
    configured_address,
    emit_one,
    mining_at,
    mining_option,
    signer_options,
)
from posd.config.settings import Config


@click.group(cls=PosdGroup, error_style="click")
def chain() -> None:
    """Deploy the DSG contracts and manage stores and tills on chain."""


@chain.command()
@signer_options
@click.option(
    "--max-supply",
    type=int,
    default=DEFAULT_MAX_SUPPLY,
    show_default=True,
    help="DSG wei cap for the halving (default 21 million DSG).",
)
@click.option(
    "--profit-token",
    metavar="ADDR",
    help="The stablecoin stakers' dividends are paid in (default on dev chains: a new 6-decimal "
    "test stablecoin the signer mints; required elsewhere).",
)
@click.option(
    "--tiers",
    default=",".join(map(str, DEFAULT_TIERS_DSG)),
    show_default=True,
    metavar="DSG,DSG,...",
    help='Membership tier thresholds in whole DSG ("" = none; later: `chain set-tiers`).',
)
@click.option("--no-write-config", is_flag=True, help="Do not record the addresses in the config.")
@click.pass_context
def deploy(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    max_supply: int,
    profit_token: str | None,
    tiers: str,
    no_write_config: bool,
) -> None:
    """Deploy token, mining and staking contracts; the signer becomes their admin."""
    from posd.chain import contracts
    from posd.config.settings import set_values

    thresholds = chain_staking.parse_thresholds(tiers)
    if profit_token is not None:
        profit_token = checked_address(profit_token, "--profit-token")
    account, w3 = signer.connect(ctx)
    chain_staking.check_profit_token(w3, profit_token)
    try:
        token, mining = contracts.deploy(w3, account, max_supply=max_supply)
    except (contracts.ChainError, ValueError) as exc:
        raise click.ClickException(f"deploy failed: {exc}") from None
    staking, profit = chain_staking.deploy_staking(
        w3, account, token.address, profit_token, thresholds
    )
    result = {
        "token": token.address,
        "mining": mining.address,
        "staking": staking.address,
        "profit_token": profit,
        "chain_id": w3.eth.chain_id,
    }
    path = None if no_write_config else config_path(ctx)
    if path is not None:
        addresses = {
            "mining_address": mining.address,
            "token_address": token.address,
            "staking_address": staking.address,
            "profit_token_address": profit,
        }
        set_values(path, {"chain": addresses})
        click.echo(f"wrote the addresses into {path}", err=True)
    emit_one(
        result,
        as_json,
        f"token: {token.address}\nmining: {mining.address}\nstaking: {staking.address}\n"
        f"profit_token: {profit}",
    )


chain.add_command(chain_staking.set_tiers)
chain.add_command(chain_staking.deposit_profit)


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
    from posd.chain import contracts

    try:
        contracts.currency_code(currency)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    owner = checked_address(owner, "--owner")
    account, w3 = signer.connect(ctx)
    contract = mining_at(ctx, w3, mining)
    receipt = contracts.register_store(
        w3, account, contract, store, owner, currency, daily_cap, rate=rate
    )
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
    emit_one(data, as_json, f"store {store!r} registered as {sid}")


@chain.command("join-request")
@click.option("--store", "store", metavar="NAME", help="The store to join ([store] name).")
@click.option(
    "--valid-for", default="1d", show_default=True, metavar="DURATION", help="e.g. 1d, 12h, 30m."
)
@mining_option
@click.option(
    "--chain-id", type=click.IntRange(min=1), help="Chain id (default: config, else node)."
)
@click.option("--rpc", metavar="URL", help="Ask this node for the chain id ([chain] rpc_url).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def join_request(
    ctx: click.Context,
    store: str | None,
    valid_for: str,
    mining: str | None,
    chain_id: int | None,
    rpc: str | None,
    as_json: bool,
) -> None:
    """On the till: sign its consent to join a store, for the owner's `add-till --consent`."""
    from posd.chain import consent, contracts
    from posd.config import keyfile

    cfg = app_context(ctx).config
    store = store or cfg.store.name
    if not store:
        raise click.UsageError("no store: pass --store NAME (or set [store] name)")
    seconds = consent.parse_duration(valid_for)
    address = checked_address(configured_address(ctx, mining, "mining"), "--mining")
    cid = chain_id or _known_chain_id(cfg, rpc)
    keys, _ = keyfile.load_configured(cfg)
    join = consent.request(keys.private_key, cid, address, contracts.store_id(store), seconds)
    data = join.as_json(store) | {"chain_id": cid, "mining": address}
    text = (
        f"till: {join.till}\nstore: {store} (storeId {data['store_id']})\n"
        f"deadline: {join.deadline} ({data['deadline_utc']})\nsignature: {data['signature']}\n"
        f"consent: {data['consent']}\n"
        f"the store owner runs: posd chain add-till --store {store!r} --till {join.till} "
        f"--consent {data['consent']}"
    )
    emit_one(data, as_json, text)


def _known_chain_id(cfg: Config, rpc: str | None) -> int:
    """--chain-id absent: the config's, else what the daemon learnt, else the node's."""
    if cfg.chain.chain_id:
        return int(cfg.chain.chain_id)
    if cfg.db_path.exists():
        from posd.receipt.builder import known_chain_id

        with till_db(cfg) as db:
            known = known_chain_id(cfg, db)
        if known:
            return int(known)
    url = rpc or cfg.chain.rpc_url
    if url:
        from posd.chain.rpc import LinkDown, Rpc, RpcError, hexint

        try:
            return hexint(Rpc(url, timeout=5.0).call("eth_chainId"))
        except (LinkDown, RpcError, ValueError) as exc:
            raise click.ClickException(f"{url}: cannot read the chain id: {exc}") from None
    raise click.UsageError("unknown chain id: pass --chain-id N or --rpc URL")


@chain.command("add-till")
@signer_options
@mining_option
@click.option("--store", "store", required=True, metavar="NAME")
@click.option("--till", required=True, metavar="ADDR")
@click.option(
    "--consent",
    "consent_hex",
    required=True,
    metavar="HEX",
    help="The till's consent, as `posd chain join-request` printed it.",
)
@click.pass_context
def add_till(
    ctx: click.Context,
    signer: Signer,
    as_json: bool,
    mining: str | None,
    store: str,
    till: str,
    consent_hex: str,
) -> None:
    """Add a till to a store with the till's consent (store owner or admin)."""
    from posd.chain import consent, contracts

    till = checked_address(till, "--till")
    join = consent.decode(consent_hex)  # a malformed consent fails before any network
    account, w3 = signer.connect(ctx)
    contract = mining_at(ctx, w3, mining)
    receipt = contracts.add_till(w3, account, contract, store, till, join)
    next_seq = contract.functions.nextSeq(till).call()
    data = {
        "store": store,
        "till": till,
        "deadline": join.deadline,
        "next_seq": next_seq,
        "tx": receipt["transactionHash"].to_0x_hex(),
    }
    emit_one(data, as_json, f"till {till} added to {store!r} (next seq {next_seq})")


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
    from posd.chain import contracts

    till = checked_address(till, "--till")
    account, w3 = signer.connect(ctx)
    contract = mining_at(ctx, w3, mining)
    receipt = contracts.remove_till(w3, account, contract, till)
    data = {"till": till, "tx": receipt["transactionHash"].to_0x_hex()}
    emit_one(data, as_json, f"till {till} removed")


@chain.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--rpc", help="RPC URL (default: [chain] rpc_url).")
@click.pass_context
def chain_status(ctx: click.Context, as_json: bool, rpc: str | None) -> None:
    """The till on chain: authorized, nextSeq on chain vs locally. Binds a till whose database was lost."""
    from web3 import Web3

    from posd.chain import contracts
    from posd.config import keyfile
    from posd.db import meta
    from posd.db.meta import Meta
    from posd.db.store import Store
    from posd.till import identity
    from posd.till.seqmark import SeqMark

    cfg = app_context(ctx).config
    rpc_url = rpc or cfg.chain.rpc_url
    if not rpc_url or not cfg.chain.mining_address:
        raise click.ClickException("set [chain] rpc_url and mining_address (or pass --rpc)")
    keys, passphrase = keyfile.load_configured(cfg)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    mining = contracts.mining_contract(w3, cfg.chain.mining_address)
    try:
        next_chain = int(mining.functions.nextSeq(keys.address).call())
        authorized = bool(mining.functions.isTill(keys.address).call())
        till_store = contracts.till_store(mining, keys.address)
        balance = w3.eth.get_balance(keys.address)
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - offline: say so, plainly
        raise click.ClickException(
            f"{rpc_url}: cannot read the chain: {type(exc).__name__}: {exc}"
        ) from None
    store = Store(cfg.db_path)
    try:
        keys, state = identity.ensure_bound(
            store, keys, cfg.key_file, passphrase, lambda _till: next_chain
        )
        found = Meta(store).many(meta.NEXT_SEQ, meta.SEQ_CASE, meta.SEQ_GAP)
    finally:
        store.close()
    next_local = found[meta.NEXT_SEQ.name]
    marks = {  # DESIGN §2: L, H, C and what the till decided from them
        "L": next_local,
        "H": SeqMark.beside(cfg.key_file, keys.address).read(),
        "C": next_chain,
        "seed_id": keys.seed_id,
        "case": found[meta.SEQ_CASE.name] or None,
        "fillers_owed": found[meta.SEQ_GAP.name] or None,
    }
    store_id = "0x" + contracts.store_id(cfg.store.name).hex()
    result = {
        "till": keys.address,
        "authorized": authorized,
        "store": cfg.store.name,
        "store_id": store_id,
        "till_store": till_store,
        "store_ok": till_store is not None and till_store.lower() == store_id,
        "next_seq_chain": next_chain,
        "next_seq_local": next_local,
        "state": state,
        "chain_id": chain_id,
        "mining": cfg.chain.mining_address,
        "gas_balance_wei": balance,
        "next_seq_mark": marks["H"],
        "marks": marks,
    }
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))
