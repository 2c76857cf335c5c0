"""`posd gateway`: the shopper-facing claim gateway (DESIGN §9), run by a platform or a store.

Options override the config's ``[gateway]`` section (which falls back to ``[chain] rpc_url`` and
``mining_address``). The relayer account signs locally: ``--private-key`` on dev chains,
``--keystore`` (passphrase from a file or an environment variable) elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import click

from posd.cli.common import PosdCommand, app_context


@click.command(cls=PosdCommand, error_style="posd")
@click.option("--rpc", metavar="URL", help="JSON-RPC URL ([gateway] rpc_url, [chain] rpc_url).")
@click.option("--mining", metavar="ADDR", help="Mining contract ([gateway] mining_address).")
@click.option("--private-key", metavar="HEX", help="Relayer key (dev chains only).")
@click.option("--keystore", metavar="FILE", help="Relayer keystore ([gateway] keystore).")
@click.option("--passphrase-file", metavar="F")
@click.option("--passphrase-env", metavar="VAR")
@click.option(
    "--listen", metavar="HOST:PORT", help="Where to listen ([gateway] listen; port 0: any)."
)
@click.option("--staking", metavar="ADDR", help="Staking contract for /api/config.")
@click.option("--lifeline", is_flag=True, hidden=True, help="Stop when stdin closes (--simulate).")
@click.pass_context
def gateway(
    ctx: click.Context,
    rpc: str | None,
    mining: str | None,
    private_key: str | None,
    keystore: str | None,
    passphrase_file: str | None,
    passphrase_env: str | None,
    listen: str | None,
    staking: str | None,
    lifeline: bool,
) -> None:
    """Serve the claim page and relay shoppers' claims, paying their gas."""
    from posd.cli.signer import checked_address, load_account
    from posd.config.features import _listen

    config = app_context(ctx).config
    gw = config.gateway
    rpc_url = rpc or gw.rpc_url or config.chain.rpc_url
    if not rpc_url:
        raise click.UsageError("no RPC URL: pass --rpc URL (or set [gateway] rpc_url)")
    mining = mining or gw.mining_address or config.chain.mining_address
    if not mining:
        raise click.UsageError("no mining contract: pass --mining ADDR ([gateway] mining_address)")
    mining = checked_address(mining, "--mining")
    staking = staking or gw.staking_address or None
    if staking:
        staking = checked_address(staking, "--staking")
    listen = listen or gw.listen
    if not _listen(listen):
        raise click.UsageError(f"--listen {listen!r}: expected HOST:PORT (e.g. 127.0.0.1:8720)")
    account = load_account(
        private_key,
        keystore or (None if private_key else gw.keystore or None),
        passphrase_file or gw.passphrase_file or None,
        passphrase_env or gw.passphrase_env or None,
    )
    from posd.gateway.service import DEFAULT_PAGE_DIR, Gateway, GatewayTarget, serve, setup_logging

    setup_logging()
    state_dir = Path(gw.state_dir).expanduser() if gw.state_dir else config.state_dir
    target = GatewayTarget(rpc_url, mining, account, state_dir, staking)
    page_dir = Path(gw.page_dir).expanduser() if gw.page_dir else DEFAULT_PAGE_DIR
    serve(Gateway(target, gw), listen, page_dir, lifeline=lifeline)
