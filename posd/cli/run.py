"""`posd run`: the till daemon in the foreground (systemd runs this)."""

from __future__ import annotations

import click

from posd.cli.common import AppContext, fail
from posd.config import settings as configmod


@click.command()
@click.option(
    "--simulate", is_flag=True, help="Simulated devices, its own anvil chain, demo catalog."
)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def run(obj: AppContext, simulate: bool, verbose: bool) -> None:
    """Run the till daemon in the foreground (systemd runs this)."""
    from posd.app.daemon import Daemon, StartupError, setup_logging

    setup_logging(verbose)
    path = obj.config_path if simulate else obj.config_file()
    if not simulate and path is None:
        fail(
            f"no config file: create one with `posd config init` ({configmod.DEFAULT_PATH}) or pass --config"
        )
    cfg = configmod.load(path, obj.state_dir)
    try:
        Daemon(cfg, simulate=simulate).run_forever()
    except StartupError as exc:
        fail(str(exc), 2)
