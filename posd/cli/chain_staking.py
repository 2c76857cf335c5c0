"""`posd chain set-tiers|deposit-profit` (DESIGN §6, §11): the platform operator's staking tools,
and the staking half of `posd chain deploy`.

Thresholds are typed in whole DSG (decimals allowed: "2.5"), profit in whole units of the profit
token (its decimals() read from the chain: "250.50" of a 6-decimal stablecoin is 250500000).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from posd.cli.signer import (
    Signer,
    contract_at,
    emit_one,
    signer_options,
)

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3
    from web3.contract import Contract

# anvil / hardhat: where `deploy` may create the test stablecoin when no --profit-token is given
DEV_CHAIN_IDS = frozenset({31337, 1337})

# What a staking revert means to the operator who typed the command.
_HINTS = {
    "NotAdmin": "only the staking contract's admin may do this",
    "NotDistributor": "the signer is neither the admin nor a distributor of the staking contract",
    "Paused": "the staking contract is paused",
    "ProfitTooLarge": "a stream plus what stakers are owed holds at most 2^88 - 1 units: "
    "deposit less at a time",
    "DepositTooSmall": "a deposit during a running stream must be at least what already streamed "
    "of it (it may not lower the rate); deposit more, or after the stream ends",
    "ProfitExceedsBalance": "the profit token balance does not cover the stream",
    "TooManyTiers": "at most 8 tiers",
    "TiersNotAscending": "thresholds must be strictly ascending",
    "ZeroThreshold": "the first threshold must be above 0",
    "ZeroAmount": "the amount must be above 0",
}

staking_option = click.option(
    "--staking", metavar="ADDR", help="Staking contract ([chain] staking_address)."
)


def _staking_at(ctx: click.Context, w3: Web3, staking: str | None) -> Contract:
    from posd.chain import contracts

    return contract_at(ctx, w3, staking, "staking", contracts.staking_contract)


def _explained(exc: Exception) -> click.ClickException:
    reason = getattr(exc, "reason", None)
    hint = _HINTS.get(reason or "")
    text = f"{exc}" if hint is None else f"refused ({reason}): {hint}"
    return click.ClickException(text)


def parse_thresholds(text: str) -> list[int]:
    """Thresholds typed as "100,1000,10000" (whole DSG) -> DSG wei, checked as the contract does."""
    from posd.chain import contracts

    parts = [p for p in (x.strip() for x in text.split(",")) if p]
    try:
        return contracts.check_tiers([contracts.parse_dsg(p) for p in parts])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--thresholds") from None


def check_profit_token(w3: Web3, profit_token: str | None) -> None:
    """Before anything is deployed: a profit token with code, or a dev chain to make one on."""
    chain_id = w3.eth.chain_id
    if profit_token is None:
        if chain_id not in DEV_CHAIN_IDS:
            raise click.UsageError(
                f"--profit-token ADDR is required on chain {chain_id} (the test stablecoin is "
                "deployed only on dev chains)"
            )
    elif not w3.eth.get_code(profit_token):
        raise click.UsageError(f"--profit-token {profit_token}: no contract on chain {chain_id}")


def deploy_staking(
    w3: Web3, account: LocalAccount, dsg_token: str, profit_token: str | None, tiers: list[int]
) -> tuple[Contract, str]:
    """Deploy DSGStaking for `posd chain deploy`; (staking, profit token address).

    Without --profit-token a dev chain gets the 6-decimal test stablecoin (the signer mints
    it); the caller ran :func:`check_profit_token` before deploying anything, so any other chain
    has named the real stablecoin by now.
    """
    from posd.chain import contracts

    if profit_token is None:
        profit_token = contracts.deploy_test_stable(w3, account).address
    try:
        staking = contracts.deploy_staking(w3, account, dsg_token, profit_token, tiers)
    except (contracts.ChainError, ValueError) as exc:
        raise click.ClickException(f"staking deploy failed: {exc}") from None
    return staking, profit_token


@click.command("set-tiers")
@signer_options
@staking_option
@click.option(
    "--thresholds",
    required=True,
    metavar="DSG,DSG,...",
    help='Whole DSG per tier, ascending, at most 8 (e.g. "100,1000,10000"; "" = no tiers).',
)
@click.pass_context
def set_tiers(
    ctx: click.Context, signer: Signer, as_json: bool, staking: str | None, thresholds: str
) -> None:
    """Set the staking contract's membership tier thresholds (admin)."""
    from posd.chain import contracts

    tiers = parse_thresholds(thresholds)  # bad input fails before any network
    account, w3 = signer.connect(ctx)
    contract = _staking_at(ctx, w3, staking)
    try:
        receipt = contracts.set_tier_thresholds(w3, account, contract, tiers)
    except contracts.ChainError as exc:
        raise _explained(exc) from None
    data = {
        "staking": contract.address,
        "thresholds_wei": [str(t) for t in tiers],
        "thresholds_dsg": [_units(t, 18) for t in tiers],
        "tx": receipt["transactionHash"].to_0x_hex(),
    }
    shown = ", ".join(f"tier {i + 1}: {d} DSG" for i, d in enumerate(data["thresholds_dsg"]))
    emit_one(data, as_json, f"tiers set on {contract.address}: {shown or 'none'}")


@click.command("deposit-profit")
@signer_options
@staking_option
@click.option(
    "--amount",
    required=True,
    metavar="N",
    help="Whole units of the profit token, decimals allowed (e.g. 250.50).",
)
@click.pass_context
def deposit_profit(
    ctx: click.Context, signer: Signer, as_json: bool, staking: str | None, amount: str
) -> None:
    """Deposit platform profit for stakers: approve + notifyProfit (admin or distributor)."""
    from posd.chain import contracts

    try:
        contracts.parse_units(amount, 18, "--amount")  # the form, before any network
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--amount") from None
    account, w3 = signer.connect(ctx)
    contract = _staking_at(ctx, w3, staking)
    token = contracts.erc20_contract(w3, contract.functions.profitToken().call())
    decimals = int(token.functions.decimals().call())
    try:
        units = contracts.parse_units(amount, decimals, "--amount")
        if units == 0:
            raise ValueError("--amount must be above 0")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--amount") from None
    try:
        receipt, approved = contracts.notify_profit(w3, account, contract, units)
    except contracts.ChainError as exc:
        raise _explained(exc) from None
    data: dict[str, Any] = {
        "staking": contract.address,
        "profit_token": token.address,
        "amount": _units(units, decimals),
        "amount_units": str(units),
        "period_finish": int(contract.functions.periodFinish().call()),
        "tx": receipt["transactionHash"].to_0x_hex(),
        "approve_tx": approved["transactionHash"].to_0x_hex() if approved else None,
    }
    emit_one(
        data,
        as_json,
        f"deposited {data['amount']} (streams to stakers until {data['period_finish']})",
    )


def _units(value: int, decimals: int) -> str:
    """Base units as a plain decimal string ("1000", "2.5")."""
    from decimal import Decimal

    text = format(Decimal(value).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
