"""The checks behind `posd diag`: config, key file, database, clock, disk, devices, chain.

Each check is a dict ``{"check", "status": ok|warn|fail, "detail"}``; a diagnosis reports what it
finds and never crashes on it. Heavy libraries (web3, escpos) load only when a check needs them.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from drivers import diag as hwdiag
from posd.config import keyfile
from posd.config.settings import Config


def _check(name: str, ok: bool | None, detail: str) -> dict[str, Any]:
    """ok=None is a warning: shown, but not a failure."""
    return {
        "check": name,
        "status": "ok" if ok else ("warn" if ok is None else "fail"),
        "detail": detail,
    }


def run_checks(cfg: Config, probe: list[str], probe_seconds: float) -> list[dict[str, Any]]:
    checks = [_check("config", True, str(cfg.path or "built-in defaults"))]
    keys = None
    try:
        keys, _passphrase = keyfile.load_configured(cfg)
        checks.append(_check("key_file", True, f"{cfg.key_file} (till {keys.address})"))
    except keyfile.KeyFileError as exc:
        checks.append(_check("key_file", False, str(exc)))
    checks.extend(database_checks(cfg))
    chain_next: list[int] = []  # filled by chain_checks when it reads nextSeq(till)
    free = shutil.disk_usage(cfg.state_dir if cfg.state_dir.exists() else Path("/")).free
    checks.append(_check("disk", free > 100 * 2**20, f"{free // 2**20} MiB free"))
    checks.extend(device_checks(cfg))
    for port in probe:
        report = hwdiag.probe_serial(port, probe_seconds)
        detail = report.get("error") or (
            f"{report['bytes']} bytes, {report['lines']} lines, terminator {report['suggested_terminator']}"
        )
        checks.append(_check(f"probe {port}", report["ok"], detail))
    checks.extend(chain_checks(cfg, keys, chain_next))
    from posd.app.diag_dsg import dsg_checks  # DSG payments (DESIGN §10)

    checks.extend(dsg_checks(cfg, keys.address if keys is not None else None))
    if keys is not None:
        checks.extend(seq_checks(cfg, keys, chain_next[0] if chain_next else None))
    return checks


def database_checks(cfg: Config) -> list[dict[str, Any]]:
    from posd.db import health, meta
    from posd.db.meta import Meta
    from posd.db.print_jobs import PrintJobs
    from posd.db.store import Store

    if not cfg.db_path.exists():
        return [_check("database", None, f"{cfg.db_path} does not exist yet")]
    store = Store(cfg.db_path)
    try:
        integrity = health.integrity(store)
        out = [_check("database", integrity == "ok", f"{cfg.db_path}: {integrity}")]
        skew = Meta(store).get(meta.LAST_TIME) - int(time.time())
        out.append(
            _check(
                "clock",
                None if skew > 0 else True,
                f"clock is {skew} s behind the last sale; proofs keep the later time"
                if skew > 0
                else "not behind the last sale",
            )
        )
        pending = PrintJobs(store).queued()
        out.append(_check("print_queue", None if pending else True, f"{pending} receipts waiting"))
    finally:
        store.close()
    return out


def device_checks(cfg: Config) -> list[dict[str, Any]]:
    checks = [
        _check(f"device #{entry['index'] + 1}", entry["ok"], entry.get("error") or entry["id"])
        for entry in hwdiag.check_config(cfg.device)
    ]
    for entry in cfg.device:
        if entry.get("kind") == "printer" and entry.get("driver") not in ("simulated", None):
            try:
                from drivers.printers.escpos import PrinterDriver

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
    return checks


def chain_checks(
    cfg: Config, keys: keyfile.TillKeys | None, seen: list[int] | None = None
) -> list[dict[str, Any]]:
    if not cfg.chain.rpc_url:
        return [_check("chain", None, "no [chain] rpc_url: proofs stay queued until one is set")]
    if not cfg.chain.mining_address:
        return [
            _check("chain", False, "[chain] mining_address is not set (run `posd chain deploy`)")
        ]
    from web3 import Web3

    from posd.chain import contracts

    try:
        w3 = Web3(Web3.HTTPProvider(cfg.chain.rpc_url, request_kwargs={"timeout": 5}))
        chain_id = w3.eth.chain_id
        mining = contracts.mining_contract(w3, cfg.chain.mining_address)
        out = [_check("chain", True, f"{cfg.chain.rpc_url} chain id {chain_id}")]
        if keys is not None:
            next_seq = mining.functions.nextSeq(keys.address).call()
            if seen is not None:
                seen.append(int(next_seq))
            balance = w3.eth.get_balance(keys.address)
            out.append(_check("chain_seq", True, f"nextSeq(till) = {next_seq}"))
            out.append(_store_check(cfg, contracts.till_store(mining, keys.address)))
            out.append(
                _check("gas_balance", balance > 0 or None, f"{Web3.from_wei(balance, 'ether')} ETH")
            )
        return out
    except Exception as exc:  # noqa: BLE001 - offline is a finding
        return [_check("chain", False, f"{cfg.chain.rpc_url}: {type(exc).__name__}: {exc}")]


def _store_check(cfg: Config, till_store: str | None) -> dict[str, Any]:
    """The till must sit in the configured store: its proofs count against that store's cap
    and its batches take that store's currency (DESIGN §4)."""
    from posd.chain import contracts

    ours = "0x" + contracts.store_id(cfg.store.name).hex()
    if till_store is None:
        return _check(
            "chain_store",
            None,
            f"the till was never added to a store: ask the owner of {cfg.store.name!r} to add "
            "it (`posd chain join-request`, then `posd chain add-till`)",
        )
    if till_store.lower() != ours:
        return _check(
            "chain_store",
            False,
            f"the till belongs to store {till_store}, not {cfg.store.name!r} ({ours}): "
            "check [store] name, or have it removed there and added to this store",
        )
    return _check("chain_store", True, f"in store {cfg.store.name!r} ({ours})")


def seq_checks(cfg: Config, keys: keyfile.TillKeys, chain: int | None) -> list[dict[str, Any]]:
    """DESIGN §2's marks: L (database), H (beside the key file), C (chain); the case last taken.

    Fails while local and chain disagree: C past L, or seqs from C to L without a proof (fillers
    still owed) — the chain could never commit past them.
    """
    from posd.db import meta
    from posd.db.meta import Meta
    from posd.db.sales import Sales
    from posd.db.store import Store
    from posd.till.seqmark import SeqMark, SeqMarkError

    try:
        high = SeqMark.beside(cfg.key_file, keys.address).read()
    except SeqMarkError as exc:
        return [_check("seq_marks", False, str(exc))]
    if not cfg.db_path.exists():
        return [_check("seq_marks", None, f"no database yet; high-water mark {high}")]
    store = Store(cfg.db_path)
    try:
        found = Meta(store).many(meta.NEXT_SEQ, meta.SEQ_CASE, meta.SEQ_GAP)
        local = found[meta.NEXT_SEQ.name]
        holes: list[int] = []
        if chain is not None and local > chain:
            with store.lock:  # a read: no write lock on a running till's database
                holes = Sales.missing(store.conn, chain, local)
    finally:
        store.close()
    case, gap = found[meta.SEQ_CASE.name], found[meta.SEQ_GAP.name]
    said = f"L={local} H={high} C={chain if chain is not None else '?'}, seed {keys.seed_id}"
    if case.get("detail"):
        said += f"; {case['detail']}"
        if case.get("fillers"):
            said += f", fillers {case['fillers'][0]}..{case['fillers'][1]}"
    if gap:
        said += f"; fillers owed for seqs {gap['from']}..{gap['to'] - 1} not on chain"
    out = []
    if high is not None and high > local:
        out.append(
            _check(
                "seq_marks",
                None,
                f"database behind high-water mark ({said}): the till takes a new claim seed and "
                "continues past it at its next start",
            )
        )
    else:
        out.append(_check("seq_marks", True, said))
    if chain is not None:
        if chain > local:
            out.append(
                _check(
                    "seq_chain",
                    False,
                    f"chain nextSeq {chain} is past the database's next seq {local}: start the "
                    "till online (or run `posd chain status`) so it continues past the chain's "
                    "seqs under a new claim seed",
                )
            )
        elif holes:
            out.append(
                _check(
                    "seq_chain",
                    False,
                    f"seqs {holes[0]}..{holes[-1]} ({len(holes)}) between the chain's nextSeq "
                    f"{chain} and the database's {local} have no proof: filler records are owed "
                    "(the till writes them once its flusher reads the chain)",
                )
            )
        else:
            out.append(_check("seq_chain", True, f"chain nextSeq {chain} ≤ local next seq {local}"))
    return out
