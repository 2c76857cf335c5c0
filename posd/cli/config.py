"""`posd config init|check|show`: create, validate and show the configuration."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import click

from posd.cli.common import AppContext, PosdGroup, emit, fail
from posd.config import settings as configmod
from posd.config.settings import ConfigError


@click.group("config", cls=PosdGroup)
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
    from posd.config import keyfile
    from posd.db import meta
    from posd.db.meta import Meta
    from posd.db.store import Store
    from posd.till import identity

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
        # tills of one store share a payout address: a random slot rarely collides (§10)
        "dsg": {"till_slot": secrets.randbelow(1000)},
    }
    cfg = configmod.from_dict(data, str(path))
    passphrase = keyfile.read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
    key_path = cfg.key_file
    if key_path.exists():
        keys = keyfile.load(key_path, passphrase)
        click.echo(f"key file {key_path} exists; keeping it (till {keys.address})")
    else:
        keys = keyfile.generate()
        keyfile.save(key_path, keys, passphrase)
        store = Store(cfg.db_path)
        if Meta(store).get(meta.TILL_ADDRESS) is None:
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
    from posd.config import keyfile

    path = obj.config_file()
    problems: list[str] = []
    cfg = None
    try:
        cfg = configmod.load(path, obj.state_dir)
    except ConfigError as exc:
        problems.append(str(exc))
    if cfg is not None:
        try:
            keyfile.load_configured(cfg)
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
    cfg = configmod.load(obj.config_file(), obj.state_dir)
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
