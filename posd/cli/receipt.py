"""`posd receipt SEQ --png FILE`: look at a receipt's layout without a printer."""

from __future__ import annotations

from pathlib import Path

import click

from posd.cli.common import AppContext, fail


@click.command("receipt")
@click.argument("seq", type=int)
@click.option(
    "--png", "png", type=click.Path(path_type=Path), required=True, help="Write a PNG preview here."
)
@click.pass_obj
def receipt(obj: AppContext, seq: int, png: Path) -> None:
    """Render receipt SEQ (as a COPY) to a PNG file, to look at the layout."""
    from posd.receipt.builder import ReceiptBuilder

    cfg = obj.config
    try:
        image = ReceiptBuilder.open(cfg).png(seq)
    except LookupError as exc:
        fail(str(exc), 2)
    image.save(png)
    click.echo(f"wrote {png} ({image.width}x{image.height})")
