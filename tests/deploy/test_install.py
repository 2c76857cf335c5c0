"""Install on a till (DESIGN §12): the installer into a temporary root, then `systemd-analyze
verify` on the unit it installed, as CI does.

The root gets what a Debian system has (systemd's own units), the installer adds the rest: the
posd user and groups, /opt/posd/.venv/bin/posd (``--no-venv``: a launcher of this checkout's
posd, since building the venv needs the network), the hardened unit, the udev rules, the
config from `posd config init` (root:posd 0640) and the till's key file.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "systemd" / "install.sh"
UNIT = "/etc/systemd/system/posd.service"
pytestmark = pytest.mark.slow


def _analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("systemd-analyze missing in CI: scripts/setup.sh installs Debian's systemd")
        pytest.skip("systemd-analyze missing (apt-get install systemd)")
    return found


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("root")
    posd = Path(sys.executable).with_name("posd")
    run = subprocess.run(
        [
            str(INSTALL),
            "--root",
            str(root),
            "--no-venv",
            "--posd-bin",
            str(posd),
            "--store-name",
            "Corner Shop",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return root


def test_the_installed_unit_passes_systemd_analyze_verify(root: Path) -> None:
    analyze = _analyze()
    units = root / "usr/lib/systemd/system"
    units.parent.mkdir(parents=True, exist_ok=True)
    if not units.exists():  # what the OS brings: sysinit.target, network-online.target, ...
        shutil.copytree("/usr/lib/systemd/system", units, symlinks=True)
    run = subprocess.run(
        [analyze, "verify", f"--root={root}", UNIT], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and not run.stderr.strip(), run.stdout + run.stderr


def test_the_unit_orders_after_time_sync_without_requiring_it_and_is_hardened(root: Path) -> None:
    lines = [ln.strip() for ln in (root / UNIT.lstrip("/")).read_text().splitlines()]
    keys: dict[str, list[str]] = {}
    for line in lines:
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            keys.setdefault(key, []).append(value)
    after = " ".join(keys["After"]).split()
    assert "time-sync.target" in after
    pulls = ("Wants", "Requires", "Requisite", "BindsTo", "Upholds")
    # nothing pulls the clock sync or the wait for the network in: an offline till boots at once
    # (network-online.target would hold it for the wait-online timeout, up to 2 min)
    for target in ("time-sync", "network-online"):
        assert not any(target in v for k in pulls for v in keys.get(k, [])), target
    for key, value in {
        "ProtectKernelTunables": "yes",
        "ProtectControlGroups": "yes",
        "SystemCallFilter": "@system-service",
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "StateDirectory": "posd",
    }.items():
        assert keys.get(key) == [value], key
    assert set(keys["RestrictAddressFamilies"][0].split()) >= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert {"char-ttyACM rw", "char-input rw"} <= set(keys["DeviceAllow"])


def test_user_config_keys_and_rules_are_in_place(root: Path) -> None:
    passwd = (root / "etc/passwd").read_text()
    assert "posd:x:999:999:" in passwd and "/usr/sbin/nologin" in passwd
    group = {ln.split(":")[0]: ln for ln in (root / "etc/group").read_text().splitlines()}
    for name in ("dialout", "lp", "input", "plugdev"):
        assert group[name].endswith("posd"), group[name]
    # `posd diag --bundle` run as posd reads the unit's journal
    assert group["systemd-journal"].split(":")[3].split(",") == ["posd"], group["systemd-journal"]
    conf = root / "etc/posd/posd.toml"
    mode = stat.S_IMODE(conf.stat().st_mode)
    assert mode == 0o640
    if os.geteuid() == 0:
        assert conf.stat().st_uid == 0 and conf.stat().st_gid == 999
    data = tomllib.loads(conf.read_text())
    assert data["store"]["name"] == "Corner Shop" and len(data["api"]["token"]) >= 16
    assert data["till"]["state_dir"] == "/var/lib/posd"  # the till's path, not the temp root
    key = root / "var/lib/posd/till.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "var/lib/posd").stat().st_mode) == 0o700
    assert (root / "etc/posd/posd.example.toml").exists()
    assert 'SUBSYSTEM=="tty"' in (root / "etc/udev/rules.d/99-posd.rules").read_text()
    launcher = root / "opt/posd/.venv/bin/posd"
    assert os.access(launcher, os.X_OK)
    run = subprocess.run([str(launcher), "--help"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "report" in run.stdout


def test_running_it_again_keeps_the_config_and_the_key(root: Path) -> None:
    conf = (root / "etc/posd/posd.toml").read_text()
    key = (root / "var/lib/posd/till.key").read_bytes()
    posd = Path(sys.executable).with_name("posd")
    run = subprocess.run(
        [str(INSTALL), "--root", str(root), "--no-venv", "--posd-bin", str(posd)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "kept" in run.stdout
    assert (root / "etc/posd/posd.toml").read_text() == conf
    assert (root / "var/lib/posd/till.key").read_bytes() == key
