"""What every `posd` command shares: the lazily loaded config and output helpers."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import click

from posd import config as configmod
from posd.config import Config, ConfigError


@dataclass
class AppContext:
    config_path: Path | None
    state_dir: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            try:
                self._config = configmod.load(self.config_path, self.state_dir)
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from None
            configmod.apply_recorded(self._config)
        return self._config


def emit(data: Any, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        click.echo(text if text is not None else json.dumps(data, indent=2, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
