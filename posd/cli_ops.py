"""Commands for field technicians and operators: devices, diag, queue (flush lives with the flusher)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Any

import click

from drivers import diag as hwdiag
from drivers.printer import PrinterDriver
from posd import keys as keyfile
from posd.cli_common import AppContext, emit
from posd.config import Config


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def devices(obj: AppContext, as_json: bool) -> None:
    """Serial ports and input devices found, which driver would claim each, and the config's devices."""
    cfg = obj.config
    report = hwdiag.detect(cfg.device)
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


def _check(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    """ok=None is a warning: shown, but not a failure."""
    return {
        "check": name,
        "status": "ok" if ok else ("warn" if ok is None else "fail"),
        "detail": detail,
    }


def run_checks(cfg: Config, probe: list[str], probe_seconds: float) -> list[dict[str, Any]]:
    from posd.store import Store

    checks = [_check("config", True, str(cfg.path or "built-in defaults"))]
    keys = None
    try:
        passphrase = keyfile.read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
        keys = keyfile.load(cfg.key_file, passphrase)
        checks.append(_check("key_file", True, f"{cfg.key_file} (till {keys.address})"))
    except keyfile.KeyFileError as exc:
        checks.append(_check("key_file", False, str(exc)))
    if cfg.db_path.exists():
        store = Store(cfg.db_path)
        integrity = store.one("PRAGMA integrity_check")[0]
        checks.append(_check("database", integrity == "ok", f"{cfg.db_path}: {integrity}"))
        last = int(store.get_meta("last_time", "0") or 0)
        skew = last - int(time.time())
        checks.append(
            _check(
                "clock",
                None if skew > 0 else True,
                f"clock is {skew} s behind the last sale; proofs keep the later time"
                if skew > 0
                else "not behind the last sale",
            )
        )
        pending = store.one("SELECT count(*) FROM print_jobs WHERE state = 'queued'")[0]
        checks.append(
            _check("print_queue", None if pending else True, f"{pending} receipts waiting")
        )
        store.close()
    else:
        checks.append(_check("database", None, f"{cfg.db_path} does not exist yet"))
    free = shutil.disk_usage(cfg.state_dir if cfg.state_dir.exists() else Path("/")).free
    checks.append(_check("disk", free > 100 * 2**20, f"{free // 2**20} MiB free"))
    for entry in hwdiag.check_config(cfg.device):
        checks.append(
            _check(f"device #{entry['index'] + 1}", entry["ok"], entry.get("error") or entry["id"])
        )
    for entry in cfg.device:
        if entry.get("kind") == "printer" and entry.get("driver") not in ("simulated", None):
            try:
                driver = PrinterDriver.from_entry({"profile": cfg.receipt.profile, **entry})
                status = driver.check()
                checks.append(
                    _check(
                        f"printer {driver.device.id}",
                        status.value != "problem",
                        f"{status.value}: {driver.detail}",
                    )
                )
            except Exception as exc:  # noqa: BLE001 - a diagnosis reports, it does not crash
                checks.append(_check("printer", False, str(exc)))
    for port in probe:
        report = hwdiag.probe_serial(port, probe_seconds)
        detail = report.get("error") or (
            f"{report['bytes']} bytes, {report['lines']} lines, terminator {report['suggested_terminator']}"
        )
        checks.append(_check(f"probe {port}", report["ok"], detail))
    checks.extend(chain_checks(cfg, keys))
    return checks


def chain_checks(cfg: Config, keys: keyfile.TillKeys | None) -> list[dict[str, Any]]:
    if not cfg.chain.rpc_url:
        return [_check("chain", None, "no [chain] rpc_url: proofs stay queued until one is set")]
    if not cfg.chain.mining_address:
        return [
            _check("chain", False, "[chain] mining_address is not set (run `posd chain deploy`)")
        ]
    from web3 import Web3

    from posd import contracts

    try:
        w3 = Web3(Web3.HTTPProvider(cfg.chain.rpc_url, request_kwargs={"timeout": 5}))
        chain_id = w3.eth.chain_id
        mining = contracts.mining_contract(w3, cfg.chain.mining_address)
        out = [_check("chain", True, f"{cfg.chain.rpc_url} chain id {chain_id}")]
        if keys is not None:
            next_seq = mining.functions.nextSeq(keys.address).call()
            balance = w3.eth.get_balance(keys.address)
            out.append(_check("chain_seq", True, f"nextSeq(till) = {next_seq}"))
            out.append(
                _check("gas_balance", balance > 0 or None, f"{Web3.from_wei(balance, 'ether')} ETH")
            )
        return out
    except Exception as exc:  # noqa: BLE001 - offline is a finding
        return [_check("chain", False, f"{cfg.chain.rpc_url}: {type(exc).__name__}: {exc}")]


@click.command()
@click.option("--json", "as_json", is_flag=True)
@click.option(
    "--probe", multiple=True, help="Also read this serial port for a while (scan something)."
)
@click.option("--probe-seconds", default=5.0, show_default=True)
@click.pass_obj
def diag(obj: AppContext, as_json: bool, probe: tuple[str, ...], probe_seconds: float) -> None:
    """Check config, key file, database, clock, disk, devices, printer and chain; non-zero on failure."""
    checks = run_checks(obj.config, list(probe), probe_seconds)
    failed = [c for c in checks if c["status"] == "fail"]
    if as_json:
        emit({"ok": not failed, "checks": checks}, True)
    else:
        for c in checks:
            click.echo(f"[{c['status']:>4}] {c['check']}: {c['detail']}")
    if failed:
        sys.exit(1)


@click.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.option("--rpc", help="RPC URL (default: [chain] rpc_url).")
@click.pass_obj
def chain_status(obj: AppContext, as_json: bool, rpc: str | None) -> None:
    """The till on chain: authorized, nextSeq on chain vs locally. Binds a till whose database was lost."""
    from web3 import Web3

    from posd import contracts, identity
    from posd.store import Store

    cfg = obj.config
    rpc_url = rpc or cfg.chain.rpc_url
    if not rpc_url or not cfg.chain.mining_address:
        raise click.ClickException("set [chain] rpc_url and mining_address (or pass --rpc)")
    try:
        passphrase = keyfile.read_passphrase(cfg.till.passphrase_file, cfg.till.passphrase_env)
        keys = keyfile.load(cfg.key_file, passphrase)
    except keyfile.KeyFileError as exc:
        raise click.ClickException(str(exc)) from None
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
    mining = contracts.mining_contract(w3, cfg.chain.mining_address)
    try:
        next_chain = int(mining.functions.nextSeq(keys.address).call())
        authorized = bool(mining.functions.isTill(keys.address).call())
        balance = w3.eth.get_balance(keys.address)
        chain_id = w3.eth.chain_id
    except Exception as exc:  # noqa: BLE001 - offline: say so, plainly
        raise click.ClickException(
            f"{rpc_url}: cannot read the chain: {type(exc).__name__}: {exc}"
        ) from None
    store = Store(cfg.db_path)
    try:
        keys, state = identity.ensure_bound(
            store, keys, cfg.key_file, passphrase, lambda _till: next_chain
        )
        next_local = int(store.get_meta("next_seq", "0") or 0)
    finally:
        store.close()
    result = {
        "till": keys.address,
        "authorized": authorized,
        "next_seq_chain": next_chain,
        "next_seq_local": next_local,
        "state": state,
        "chain_id": chain_id,
        "mining": cfg.chain.mining_address,
        "gas_balance_wei": balance,
    }
    emit(result, as_json, "\n".join(f"{k}: {v}" for k, v in result.items()))
