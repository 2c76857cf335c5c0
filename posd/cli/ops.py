"""Commands for field technicians: `posd devices` and `posd diag` (the checks: posd.app.diag)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from posd.cli.common import AppContext, emit


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def devices(obj: AppContext, as_json: bool) -> None:
    """Serial ports and input devices found, which driver would claim each, and the config's devices."""
    from drivers import diag as hwdiag

    report = hwdiag.detect(obj.config.device)
    if as_json:
        emit(report, True)
        return
    for title, key in (("serial ports", "serial"), ("input devices", "input")):
        click.echo(f"{title}:")
        for dev in report[key] or [{"path": "(none)"}]:
            click.echo(
                f"  {dev.get('path')}  {dev.get('name') or ''}  -> {dev.get('driver') or 'no driver'}"
            )
    click.echo("configured:")
    for entry in report["configured"] or [{"ok": True, "id": "(none)"}]:
        line = (
            f"  {entry.get('id')} ({entry.get('driver')})"
            if entry["ok"]
            else f"  #{entry['index'] + 1}: {entry['error']}"
        )
        click.echo(line)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--probe", multiple=True, help="Also read this serial port for a while (scan something)."
)
@click.option("--probe-seconds", default=5.0, show_default=True)
@click.option(
    "--bundle",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a support bundle (tar.gz: redacted config, checks, logs; no secrets) here.",
)
@click.pass_obj
def diag(
    obj: AppContext,
    as_json: bool,
    probe: tuple[str, ...],
    probe_seconds: float,
    bundle: Path | None,
) -> None:
    """Check config, key file, database, clock, disk, devices, printer and chain; non-zero on failure."""
    if bundle is not None:  # the bundle runs the checks itself and holds their result
        from posd.app.bundle import make_bundle

        names = make_bundle(obj.config, bundle)
        emit(
            {"bundle": str(bundle), "files": names}, as_json, f"wrote {bundle} ({len(names)} files)"
        )
        return
    from posd.app.diag import run_checks

    checks = run_checks(obj.config, list(probe), probe_seconds)
    failed = [c for c in checks if c["status"] == "fail"]
    if as_json:
        emit({"ok": not failed, "checks": checks}, True)
    else:
        for c in checks:
            click.echo(f"[{c['status']:>4}] {c['check']}: {c['detail']}")
    if failed:
        sys.exit(1)
