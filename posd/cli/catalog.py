"""`posd catalog import`: products from a CSV file, also while the daemon runs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from posd.cli.common import AppContext, PosdGroup, emit


@click.group("catalog", cls=PosdGroup)
def catalog_group() -> None:
    """Products."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def catalog_import(obj: AppContext, file: Path, as_json: bool) -> None:
    """Import FILE.csv (barcode,name,price_minor,tax_rate); works while the daemon runs."""
    from posd.db.store import Store
    from posd.till.catalog import Catalog

    store = Store(obj.config.db_path)
    try:
        result = Catalog(store).import_csv(file)
    finally:
        store.close()
    for err in result.errors:
        click.echo(f"{file}: {err}", err=True)
    summary = {"imported": result.imported, "errors": [str(e) for e in result.errors]}
    emit(summary, as_json, f"imported {result.imported} products, {len(result.errors)} bad rows")
    if result.errors:
        sys.exit(1)
