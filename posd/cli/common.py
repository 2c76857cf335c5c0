"""What every `posd` command shares: the global options, the one error mapping, output helpers.

`--config` and `--state-dir` are accepted before or after any command name (DESIGN §6): the
group class adds them to every command it is given, and each occurrence updates the one
:class:`AppContext`; options are parsed left to right, so the value after the command wins.
Errors are mapped once, here: a :class:`~posd.errors.PosdError` prints ``error: <message>`` and
exits with its ``exit_code`` — a user's mistake never shows a traceback.

Only click and the settings module load here: `posd --help` must not pay for web3 or PIL.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from posd.config import settings as configmod
from posd.config.settings import Config, ConfigError
from posd.errors import PosdError

if TYPE_CHECKING:
    from posd.db.store import Store


@dataclass
class AppContext:
    """The global options, and the config they name (loaded on first use)."""

    config_path: Path | None = None
    state_dir: str | None = None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = configmod.load(self.config_path, self.state_dir)
            except ConfigError as exc:
                # click's "Error: …", exit 1: how commands that read the config always reported it
                raise click.ClickException(str(exc)) from None
            configmod.apply_recorded(self._config)
        return self._config

    def config_file(self) -> Path | None:
        """--config, else /etc/posd/posd.toml when it exists, else None (built-in defaults)."""
        if self.config_path is not None:
            return self.config_path
        return configmod.DEFAULT_PATH if configmod.DEFAULT_PATH.exists() else None


def app_context(ctx: click.Context) -> AppContext:
    """The command line's AppContext (made on first use, also when a group is invoked alone)."""
    found = ctx.find_object(AppContext)
    return found if found is not None else ctx.find_root().ensure_object(AppContext)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    obj = app_context(ctx)  # made while the root parses, so every subcommand's context shares it
    if value is None or ctx.resilient_parsing:
        return
    if param.name == "config_path":
        obj.config_path = Path(value)
    else:
        obj.state_dir = str(value)


def _global_options(root: bool) -> list[click.Option]:
    """--config / --state-dir; only the root reads the environment (else an env var given to the
    root would override a flag typed before the command)."""
    return [
        click.Option(
            ["--config", "config_path"],
            type=click.Path(path_type=Path),
            envvar="POSD_CONFIG" if root else None,
            expose_value=False,
            callback=_remember,
            help="Config file (default /etc/posd/posd.toml; --simulate reads it only if given).",
        ),
        click.Option(
            ["--state-dir"],
            type=str,
            envvar="POSD_STATE_DIR" if root else None,
            expose_value=False,
            callback=_remember,
            help="Overrides [till] state_dir.",
        ),
    ]


_GLOBAL_NAMES = {"config_path", "state_dir"}


def add_global_options(cmd: click.Command, root: bool = False) -> None:
    """Give ``cmd`` (and, for a group, every command in it) --config and --state-dir, once."""
    if not any(p.name in _GLOBAL_NAMES for p in cmd.params):
        cmd.params.extend(_global_options(root))
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            add_global_options(sub)


class _MapsErrors:
    """Mixin: turn a PosdError raised below into the command line's one way of reporting it.

    ``error_style`` is None (let the enclosing group map it), "posd" (``error: msg``, the
    error's exit code) or "click" (``Error: msg``, exit 1): the chain tools for store owners
    have always reported through click and keep doing so.
    """

    error_style: str | None = None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except PosdError as exc:
            if self.error_style == "click":
                raise click.ClickException(str(exc)) from None
            if self.error_style is None:
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


class PosdCommand(_MapsErrors, click.Command):
    """A command with the global options; ``error_style`` set only for one invoked alone."""

    def __init__(self, *args: Any, error_style: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.error_style = error_style
        add_global_options(self)


class PosdGroup(_MapsErrors, click.Group):
    """A group whose commands (however they were made) all take the global options."""

    command_class = PosdCommand
    group_class = type  # subgroups are PosdGroups too

    def __init__(
        self, *args: Any, error_style: str | None = None, root: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.error_style = error_style
        add_global_options(self, root=root)

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        add_global_options(cmd)
        super().add_command(cmd, name)


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def till_db(cfg: Config) -> Iterator[Store]:
    """The till database, open for the block and closed after it; the commands that read it
    beside a daemon must never create an empty one, so a missing file exits 2."""
    if not cfg.db_path.exists():
        fail(f"{cfg.db_path}: no till database here (wrong --state-dir?)", 2)
    from posd.db.store import Store  # sqlite_utils loads only for the commands that use it

    store = Store(cfg.db_path)
    try:
        yield store
    finally:
        store.close()
