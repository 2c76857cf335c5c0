"""The `posd` command (DESIGN §6): the root group and the list of commands, nothing else.

Each command group lives in its own module (thin: parse, call, print). Every command takes
--config and --state-dir before or after its name (posd.cli.common); reads take --json.
Only click and the settings load at import: heavy libraries load inside the commands using them.
"""

from __future__ import annotations

import click

from posd.cli.catalog import catalog_group
from posd.cli.chain import chain
from posd.cli.claim import claim
from posd.cli.common import PosdGroup
from posd.cli.config import config_group
from posd.cli.flush import flush, queue
from posd.cli.gateway import gateway
from posd.cli.ops import devices, diag
from posd.cli.pair import pair
from posd.cli.payments import payments
from posd.cli.receipt import receipt
from posd.cli.report import report
from posd.cli.run import run


@click.group(cls=PosdGroup, root=True, error_style="posd")
def main() -> None:
    """posd: the DSG till daemon."""


for _command in (run, config_group, catalog_group, receipt, devices, diag, queue, flush, chain):
    main.add_command(_command)
main.add_command(claim)
main.add_command(gateway)
main.add_command(pair)
main.add_command(payments)
main.add_command(report)


if __name__ == "__main__":
    main()
