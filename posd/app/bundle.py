"""`posd diag --bundle FILE`: one tar.gz a technician can send to support (DESIGN §12).

What goes in: the config (redacted), the diag checks, the devices found, queue and payment
stats, the recent event log and journal, versions (posd, Python, key packages, contract
artifact hashes). What never goes in: a key, a claim seed, a claim key, a token, a passphrase
or a card number. Every file passes two nets before it is written: the secrets this till
actually holds (its keys and seeds, API and POS-link tokens, the passphrase) are replaced
wherever they appear, then the masking every log line gets (card numbers, track data, claim
URL fragments, anything shaped like a key).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from drivers.masking import mask_secrets
from posd.config.settings import Config

REDACTED = "<redacted>"
EVENTS_KEPT = 500
JOURNAL_LINES = 2000
LOG_TAIL_BYTES = 1 << 20
PACKAGES = (
    "posd",
    "web3",
    "eth-account",
    "coincurve",
    "python-escpos",
    "pyserial",
    "pyusb",
    "starlette",
    "uvicorn",
    "APScheduler",
    "sqlite-utils",
    "qrcode",
    "pillow",
    "click",
    "prometheus_client",
    "evdev",
)


def make_bundle(config: Config, out: Path) -> list[str]:
    """Write the bundle to ``out`` (mode 0600); returns the names of the files in it."""
    secrets = known_secrets(config)
    files: dict[str, Any] = {}  # name -> JSON-ready data, or text
    for name, collect in _COLLECTORS:
        try:
            files[name] = collect(config)
        except Exception as exc:  # noqa: BLE001 - a bundle reports what it could not collect
            files[name] = {"error": f"{type(exc).__name__}: {exc}"}
    for name, text in _logs(config).items():
        files[name] = text
    files["manifest.json"] = {
        "created_at": int(time.time()),
        "files": sorted([*files, "manifest.json"]),
        "till_name": config.till.name,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, content in sorted(files.items()):
            if isinstance(content, str):
                text = scrub(content, secrets)
            else:  # masked value by value: a mask must never eat the JSON around it
                text = _dump(_scrub_values(content, secrets))
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"posd-bundle/{name}")
            info.size, info.mode, info.mtime = len(data), 0o600, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return sorted(files)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each known secret replaced, then masked as every log line is."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return mask_secrets(text, barcode=False)


def _scrub_values(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {scrub(str(k), secrets): _scrub_values(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub_values(v, secrets) for v in value]
    return value


def known_secrets(config: Config) -> list[str]:
    """The secrets this till holds, in every spelling a file might carry them."""
    found: list[str] = [config.api.token, config.pos_link.token]
    passphrase = None
    try:
        from posd.config import keyfile

        passphrase = keyfile.read_passphrase(
            config.till.passphrase_file, config.till.passphrase_env
        )
        keys = keyfile.load(config.key_file, passphrase)
        raw = [keys.private_key, *(keys.seed(i) for i in keys.seed_ids)]
        for secret in raw:
            found += [secret.hex(), "0x" + secret.hex(), secret.hex().upper()]
    except Exception:  # noqa: BLE001 - no readable key file: nothing of it can leak either
        pass
    found.append(passphrase or "")
    from posd.app.pos_link import token_path  # the POS link's generated token

    try:
        found.append(token_path(config).read_text().strip())
    except OSError:
        pass
    try:
        from posd.db import meta
        from posd.db.meta import Meta
        from posd.db.store import Store

        if config.db_path.exists():
            store = Store(config.db_path)
            try:
                found.append(Meta(store).get(meta.API_TOKEN) or "")
            finally:
                store.close()
    except Exception:  # noqa: BLE001
        pass
    return [s for s in found if s and len(s) >= 8]


# -- what goes in ------------------------------------------------------------------------------


def _dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


def _config(config: Config) -> Any:
    data = config.to_dict(redact=True)
    for section in ("chain", "gateway"):  # an RPC URL may carry an API key in its path
        url = data.get(section, {}).get("rpc_url")
        if url:
            data[section]["rpc_url"] = _url_host(url)
    data["effective"] = {
        "path": str(config.path),
        "state_dir": str(config.state_dir),
        "key_file": str(config.key_file),
    }
    return data


def _url_host(url: str) -> str:
    parts = urlsplit(url)
    rest = "/" + REDACTED if (parts.path.strip("/") or parts.query) else ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{rest}"


def _diag(config: Config) -> Any:
    from posd.app.diag import run_checks

    checks = run_checks(config, [], 0.0)
    return {"ok": not any(c["status"] == "fail" for c in checks), "checks": checks}


def _devices(config: Config) -> Any:
    from drivers import diag as hwdiag

    return hwdiag.detect(config.device)


def _with_store(config: Config, read: Callable[[Any], Any]) -> Any:
    from posd.db.store import Store

    if not config.db_path.exists():
        return {"error": f"{config.db_path} does not exist yet"}
    store = Store(config.db_path)
    try:
        return json.loads(_dump(read(store)))  # plain JSON types (Decimal, Path → str)
    finally:
        store.close()


def _queue(config: Config) -> Any:
    from posd.chain.flush.link import link_status
    from posd.db.batches import queue_status
    from posd.db.print_jobs import PrintJobs

    def read(store: Any) -> Any:
        jobs = PrintJobs(store)
        return {
            "proofs": queue_status(store, link_status(store)),
            "print_jobs": {
                "queued": jobs.queued(),
                "failed": jobs.failed_count(),
                "last_error": jobs.last_error(),
            },
        }

    return _with_store(config, read)


def _payments(config: Config) -> Any:
    from posd.app import report

    def read(store: Any) -> Any:
        tz = report.zone(config)[0]
        start, end = report.day_span(report.parse_day(None, tz), tz)
        return {
            "today": report.build(config, store),
            "dsg_payments_last_30_days": report.dsg_payments(store, start - 29 * 86400, end),
        }

    return _with_store(config, read)


def _events(config: Config) -> Any:
    from posd.db import report as q

    return _with_store(config, lambda store: q.recent_events(store, EVENTS_KEPT))


def _versions(config: Config) -> Any:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    from posd.chain.contracts import ARTIFACT_DIRS

    artifacts = {}
    for folder in ARTIFACT_DIRS:
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            artifacts[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    import sqlite3

    return {
        "python": sys.version,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "sqlite": sqlite3.sqlite_version,
        "packages": packages,
        "contract_artifacts_sha256_16": artifacts,
    }


_COLLECTORS: list[tuple[str, Callable[[Config], Any]]] = [
    ("config.json", _config),
    ("diag.json", _diag),
    ("devices.json", _devices),
    ("queue.json", _queue),
    ("payments.json", _payments),
    ("events.json", _events),
    ("versions.json", _versions),
]


# what journalctl says when it shows a user only their own messages, or no file at all
_REFUSED = ("not seeing messages", "insufficient permissions", "permission denied", "access denied")
_JOURNAL_GROUPS = ("systemd-journal", "adm", "wheel")


def journal() -> str:
    """``journalctl -u posd``'s tail, or a clear note of why the bundle has no journal."""
    if not shutil.which("journalctl"):
        return "no journal in this bundle: journalctl is not installed (a system without systemd)\n"
    try:
        run = subprocess.run(
            ["journalctl", "-u", "posd", "--no-pager", "-n", str(JOURNAL_LINES), "-o", "short-iso"],
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"no journal in this bundle: journalctl failed: {exc}\n"
    said = (run.stderr or "").strip()
    shown = (run.stdout or "").strip()
    entries = bool(shown) and shown != "-- No entries --"
    refused = any(r in said.lower() for r in _REFUSED)
    if refused or (not entries and not _may_read_journal()):
        who = _user()
        return (
            f"posd's journal is NOT in this bundle: journalctl does not show the system journal "
            f"to user {who} (not root, not in group systemd-journal or adm).\n"
            "Run the bundle as root (sudo posd diag --bundle FILE), or as posd once "
            "systemd/install.sh has added posd to the systemd-journal group "
            "(sudo -u posd posd diag --bundle FILE).\n\n"
            f"journalctl exited {run.returncode} and said:\n{said or '(nothing)'}\n{shown}\n"
        )
    if run.returncode != 0:
        return f"no journal in this bundle: journalctl exited {run.returncode}: {said}\n{shown}\n"
    return run.stdout + (f"\n{said}\n" if said else "")


def _may_read_journal() -> bool:
    """Root, or a member of a group journald lets read the system journal."""
    if os.geteuid() == 0:
        return True
    try:
        import grp

        names = {grp.getgrgid(g).gr_name for g in os.getgroups()}
    except (ImportError, KeyError, OSError):
        return False
    return bool(names & set(_JOURNAL_GROUPS))


def _user() -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def _logs(config: Config) -> dict[str, str]:
    """The unit's journal (when systemd keeps one) and any *.log in the state dir, tails only."""
    out: dict[str, str] = {"logs/journal.txt": journal()}
    state = config.state_dir
    for path in sorted(state.glob("*.log")) if state.is_dir() else []:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - LOG_TAIL_BYTES))
            out[f"logs/{path.name}"] = fh.read().decode("utf-8", "replace")
    return out
