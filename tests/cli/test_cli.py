"""The `posd` command line as users type it: global options anywhere, errors mapped once, and
read-only commands that start fast because they load no heavy library (DESIGN §6)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.daemon_util import posd_cli

from posd.config import keyfile
from posd.db.store import Store

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("web3", "eth_account", "escpos", "PIL", "starlette", "uvicorn", "apscheduler")


@pytest.fixture
def till(tmp_path: Path) -> tuple[Path, Path]:
    """A config file naming a state dir that holds a key file (0600) and a database."""
    state = tmp_path / "state"
    keyfile.save(state / "till.key", keyfile.generate())
    Store(state / "posd.db").close()
    config = tmp_path / "posd.toml"
    config.write_text(f'[store]\nname = "Corner Shop"\n[till]\nstate_dir = "{state}"\n')
    return config, state


def _effective(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["effective"]


@pytest.mark.parametrize(
    "spelling",
    [
        ["--config", "{config}", "--state-dir", "{other}", "config", "show", "--json"],
        ["config", "show", "--json", "--config", "{config}", "--state-dir", "{other}"],
        ["config", "--config", "{config}", "show", "--state-dir", "{other}", "--json"],
        [
            "--state-dir",
            "{state}",
            "config",
            "show",
            "--config",
            "{config}",
            "--state-dir",
            "{other}",
            "--json",
        ],
    ],
    ids=["before", "after", "between", "after-wins"],
)
def test_global_options_before_or_after_the_command(till, tmp_path, spelling) -> None:
    config, state = till
    other = tmp_path / "other"
    args = [a.format(config=config, state=state, other=other) for a in spelling]
    effective = _effective(posd_cli(*args))
    assert effective["state_dir"] == str(other)
    assert effective["db"] == str(other / "posd.db")


def test_env_vars_still_work_and_a_flag_beats_them(till, tmp_path) -> None:
    config, state = till
    env = {"POSD_CONFIG": str(config), "POSD_STATE_DIR": str(tmp_path / "env")}
    assert _effective(posd_cli("config", "show", "--json", env=env))["state_dir"] == str(
        tmp_path / "env"
    )
    flagged = posd_cli("config", "show", "--json", "--state-dir", str(state), env=env)
    assert _effective(flagged)["state_dir"] == str(state)


def test_config_check_with_config_after_the_command(till, tmp_path) -> None:
    config, _state = till
    ok = posd_cli("config", "check", "--config", str(config))
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", ok.stderr
    missing = posd_cli("config", "check", "--config", str(tmp_path / "nope.toml"))
    assert missing.returncode == 2 and "nope.toml: no such config file" in missing.stdout


def test_group_subcommand_takes_options_after_its_name(till, tmp_path) -> None:
    """`chain status` reads the RPC from the config given after it (nothing listens there)."""
    config, state = till
    config.write_text(
        config.read_text()
        + '[chain]\nrpc_url = "http://127.0.0.1:9"\n'
        + 'mining_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"\n'
    )
    r = posd_cli("chain", "status", "--config", str(config), "--state-dir", str(state), "--json")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Error: http://127.0.0.1:9: cannot read the chain" in r.stderr
    assert "No such option" not in r.stderr and "Traceback" not in r.stderr


def test_errors_are_mapped_once_without_traceback(till, tmp_path) -> None:
    config, _state = till
    # a PosdError (ConfigError, exit 2) from the posd commands: "error: <message>"
    r = posd_cli("config", "show", "--config", str(tmp_path / "nope.toml"))
    assert (r.returncode, r.stderr) == (
        2,
        f"error: {tmp_path / 'nope.toml'}: no such config file\n",
    )
    # a key file others can read (KeyFileError, exit 2)
    (config.parent / "state" / "till.key").chmod(0o644)
    r = posd_cli("receipt", "1", "--png", str(tmp_path / "r.png"), "--config", str(config))
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "chmod 600" in r.stderr
    # the store owner's chain tools keep click's style ("Error: …", exit 1)
    keystore = tmp_path / "admin.json"
    keystore.write_text("{}")
    r = posd_cli(
        "chain", "deploy", "--rpc", "http://127.0.0.1:9", "--keystore", str(keystore),
        "--passphrase-env", "POSD_TEST_UNSET_PASSPHRASE",
    )  # fmt: skip
    assert r.returncode == 1 and r.stderr.startswith("Error: environment variable ")
    assert "POSD_TEST_UNSET_PASSPHRASE" in r.stderr and "Traceback" not in r.stderr


_PROBE = """
import json, sys
from posd.cli.main import main
try:
    main(sys.argv[1:], prog_name="posd")
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print(json.dumps({{"code": code, "heavy": heavy}}))
"""


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["queue"],
        ["queue", "--json"],
        ["devices"],
        ["config", "show"],
        ["chain", "--help"],
    ],
)
def test_read_only_commands_load_no_heavy_library(till, command) -> None:
    config, _state = till
    args = command if command == ["--help"] else [*command, "--config", str(config)]
    r = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=HEAVY), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report == {"code": 0, "heavy": []}, r.stderr


def test_help_starts_in_under_half_a_second() -> None:
    script = Path(sys.executable).with_name("posd")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "posd.cli.main"]
    best = float("inf")
    for _ in range(5):  # the best of five: other tests may share the machine
        start = time.perf_counter()
        r = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=30)
        best = min(best, time.perf_counter() - start)
        assert r.returncode == 0 and "posd: the DSG till daemon." in r.stdout
    assert best < 0.5, f"posd --help took {best:.2f} s"


@pytest.mark.anvil
def test_run_simulate_with_state_dir_after_the_command(tmp_path) -> None:
    """DESIGN §6's own spelling, once failing with "No such option: --state-dir"."""
    state = tmp_path / "state"
    with (tmp_path / "stderr.log").open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "posd.cli.main", "run", "--simulate", "--state-dir", str(state)],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=ROOT,
        )
        try:
            lines: dict[str, str] = {}
            deadline = time.monotonic() + 90
            while "ready" not in lines and time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                key, _, value = line.strip().partition(": ")
                lines[key] = value
            assert "ready" in lines, (tmp_path / "stderr.log").read_text()
            assert lines["api"].startswith("http://127.0.0.1:") and lines["token"]
            assert (state / "posd.db").exists() and (state / "till.key").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
