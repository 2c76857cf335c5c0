"""The `posd` command (DESIGN §6). Every command takes --config and --state-dir; reads take --json."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from posd import config as configmod
from posd import keys as keyfile
from posd.cli_common import AppContext, emit, fail
from posd.config import ConfigError


@click.group()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    envvar="POSD_CONFIG",
    help="Config file (default /etc/posd/posd.toml; --simulate reads it only if given).",
)
@click.option("--state-dir", type=str, envvar="POSD_STATE_DIR", help="Overrides [till] state_dir.")
@click.pass_context
def main(ctx: click.Context, config_path: Path | None, state_dir: str | None) -> None:
    """posd: the DSG till daemon."""
    ctx.obj = AppContext(config_path, state_dir)


def _default_config_path(ctx: AppContext) -> Path | None:
    if ctx.config_path is not None:
        return ctx.config_path
    return configmod.DEFAULT_PATH if configmod.DEFAULT_PATH.exists() else None


# -- run --------------------------------------------------------------------------------------------
@main.command()
@click.option(
    "--simulate", is_flag=True, help="Simulated devices, its own anvil chain, demo catalog."
)
@click.option("-v", "--verbose", is_flag=True)
@click.pass_obj
def run(obj: AppContext, simulate: bool, verbose: bool) -> None:
    """Run the till daemon in the foreground (systemd runs this)."""
    from posd.daemon import Daemon, StartupError, setup_logging

    setup_logging(verbose)
    path = obj.config_path if simulate else _default_config_path(obj)
    if not simulate and path is None:
        fail(
            f"no config file: create one with `posd config init` ({configmod.DEFAULT_PATH}) or pass --config"
        )
    try:
        cfg = configmod.load(path, obj.state_dir)
    except ConfigError as exc:
        fail(str(exc), 2)
    try:
        daemon = Daemon(cfg, simulate=simulate)
        daemon.run_forever()
    except (StartupError, keyfile.KeyFileError, ConfigError) as exc:
        fail(str(exc), 2)


# -- config -----------------------------------------------------------------------------------------
@main.group("config")
def config_group() -> None:
    """Create, validate and show the configuration."""


@config_group.command("init")
@click.option("--force", is_flag=True, help="Overwrite an existing config file.")
@click.option("--store-name", default="My Store", show_default=True)
@click.option("--currency", default="EUR", show_default=True)
@click.option("--passphrase-file", type=click.Path(path_type=Path), help="Encrypt the key file.")
@click.option("--passphrase-env", help="Encrypt the key file with the passphrase in this variable.")
@click.pass_obj
def config_init(
    obj: AppContext,
    force: bool,
    store_name: str,
    currency: str,
    passphrase_file: Path | None,
    passphrase_env: str | None,
) -> None:
    """Write a config file and create the till key file (device key + claim seed)."""
    from posd import identity
    from posd.store import Store

    path = obj.config_path or configmod.DEFAULT_PATH
    if path.exists() and not force:
        fail(f"{path} exists; use --force to overwrite it")
    state_dir = Path(obj.state_dir) if obj.state_dir else configmod.default_state_dir()
    till = {"state_dir": str(state_dir), "key_file": str(state_dir / "till.key")}
    if passphrase_file:
        till["passphrase_file"] = str(passphrase_file)
    if passphrase_env:
        till["passphrase_env"] = passphrase_env
    data = {
        "store": {"name": store_name, "currency": currency.upper()},
        "till": till,
        "api": {"token": secrets.token_urlsafe(24)},
    }
    try:
        cfg = configmod.from_dict(data, str(path))
        passphrase = keyfile.read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
    except (ConfigError, keyfile.KeyFileError) as exc:
        fail(str(exc), 2)
    key_path = cfg.key_file
    if key_path.exists():
        try:
            keys = keyfile.load(key_path, passphrase)
        except keyfile.KeyFileError as exc:
            fail(str(exc), 2)
        click.echo(f"key file {key_path} exists; keeping it (till {keys.address})")
    else:
        keys = keyfile.generate()
        keyfile.save(key_path, keys, passphrase)
        store = Store(cfg.db_path)
        if store.get_meta("till_address") is None:
            identity.bind_new(store, keys)
        store.close()
        click.echo(f"created key file {key_path} (till {keys.address})")
    configmod.write_toml(path, data)
    click.echo(f"wrote {path}")


@config_group.command("check")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def config_check(obj: AppContext, as_json: bool) -> None:
    """Validate the config and the key file; exit non-zero naming what is wrong."""
    path = _default_config_path(obj)
    problems: list[str] = []
    cfg = None
    try:
        cfg = configmod.load(path, obj.state_dir)
    except ConfigError as exc:
        problems.append(str(exc))
    if cfg is not None:
        try:
            passphrase = keyfile.read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
            keyfile.load(cfg.key_file, passphrase)
        except keyfile.KeyFileError as exc:
            problems.append(str(exc))
    result = {"ok": not problems, "config": str(path) if path else None, "problems": problems}
    emit(result, as_json, "ok" if not problems else "\n".join(problems))
    if problems:
        sys.exit(2)


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def config_show(obj: AppContext, as_json: bool) -> None:
    """Print the effective configuration, secrets redacted."""
    try:
        cfg = configmod.load(_default_config_path(obj), obj.state_dir)
    except ConfigError as exc:
        fail(str(exc), 2)
    data = cfg.to_dict(redact=True)
    data["effective"] = {
        "state_dir": str(cfg.state_dir),
        "key_file": str(cfg.key_file),
        "db": str(cfg.db_path),
    }
    if as_json:
        emit(data, True)
    else:
        import tomli_w

        click.echo(tomli_w.dumps(data))


# -- catalog ----------------------------------------------------------------------------------------
@main.group("catalog")
def catalog_group() -> None:
    """Products."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def catalog_import(obj: AppContext, file: Path, as_json: bool) -> None:
    """Import FILE.csv (barcode,name,price_minor,tax_rate); works while the daemon runs."""
    from posd.catalog import Catalog, CatalogFileError
    from posd.store import Store

    store = Store(obj.config.db_path)
    try:
        result = Catalog(store).import_csv(file)
    except CatalogFileError as exc:
        fail(str(exc), 2)
    finally:
        store.close()
    for err in result.errors:
        click.echo(f"{file}: {err}", err=True)
    summary = {"imported": result.imported, "errors": [str(e) for e in result.errors]}
    emit(summary, as_json, f"imported {result.imported} products, {len(result.errors)} bad rows")
    if result.errors:
        sys.exit(1)


# -- receipts ---------------------------------------------------------------------------------------
@main.command("receipt")
@click.argument("seq", type=int)
@click.option(
    "--png", "png", type=click.Path(path_type=Path), required=True, help="Write a PNG preview here."
)
@click.pass_obj
def receipt_cmd(obj: AppContext, seq: int, png: Path) -> None:
    """Render receipt SEQ (as a COPY) to a PNG file, to look at the layout."""
    from posd.spooler import ReceiptBuilder

    cfg = obj.config
    try:
        builder = ReceiptBuilder.open(cfg)
        image = builder.png(seq)
    except (LookupError, keyfile.KeyFileError) as exc:
        fail(str(exc), 2)
    image.save(png)
    click.echo(f"wrote {png} ({image.width}x{image.height})")


from posd.cli_chain import chain, claim  # noqa: E402 - commands defined beside their business
from posd.cli_flush import flush, queue  # noqa: E402
from posd.cli_ops import chain_status, devices, diag  # noqa: E402

for _command in (devices, diag, queue, flush, chain, claim):
    main.add_command(_command)
chain.add_command(chain_status)


if __name__ == "__main__":
    main()
