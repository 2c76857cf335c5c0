"""`posd claim URL --recipient ADDR`: a receipt's DSG, from its claim URL and chain data alone."""

from __future__ import annotations

import json

import click

from posd.cli.common import PosdCommand
from posd.cli.signer import Signer, checked_address, connect, emit_one, signer_options


@click.command(cls=PosdCommand, error_style="click")
@click.argument("url")
@click.option("--recipient", metavar="ADDR", help="Who receives the DSG (needed to claim).")
@click.option(
    "--status",
    is_flag=True,
    help="Only report the receipt's state (pending / claimable / claimed / refunded), as the "
    "claim page does; needs no key.",
)
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
    recipient: str | None,
    status: bool,
    signer: Signer,
    as_json: bool,
    from_block: int,
) -> None:
    """Claim a receipt's DSG from its claim URL; the signing account pays gas."""
    from posd.chain.claim import ClaimError, state_of
    from posd.chain.claim import claim as do_claim
    from posd.proof.claimcode import ClaimPayload, QrError

    try:
        payload = ClaimPayload.from_url(url)
    except QrError as exc:
        raise click.UsageError(f"bad claim URL: {exc}") from None
    if status:
        st = state_of(connect(ctx, signer.rpc), payload, from_block=from_block)
        emit_one(st.to_json(), as_json, f"{st.state}: {st.message()}")
        return
    if recipient is None:
        raise click.UsageError("--recipient ADDR is needed to claim (or use --status)")
    recipient = checked_address(recipient, "--recipient")
    account, w3 = signer.connect(ctx)
    try:
        result = do_claim(w3, account, payload, recipient, from_block=from_block)
    except ClaimError as exc:
        if not as_json:
            raise  # reported once, by the command class
        click.echo(json.dumps(exc.to_json()))
        ctx.exit(1)
    data = {
        "tx": result.tx_hash,
        "reward": result.reward,
        "recipient": result.recipient,
        "till": result.till,
        "seq": result.seq,
        "batch_index": result.batch_index,
    }
    emit_one(
        data, as_json, f"claimed {result.reward / 10**18:g} DSG for {recipient} ({result.tx_hash})"
    )
