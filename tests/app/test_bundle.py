"""`posd diag --bundle FILE` (DESIGN §12): everything support needs, no secret of the till.

A real till is given secrets we know — an encrypted key file (till key, claim seed, passphrase
file), an API token, a POS-link token, an RPC URL with an API key in its path — then sells (a
claim URL is answered), takes a card swipe and a card number as a payment reference, and a log
file in its state dir catches a full PAN, track data and the token (an older build's leak).
The bundle is made by the real command; every file in it is grepped for each secret.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from pathlib import Path

import pytest
from helpers.daemon_util import Client, posd_cli, provision

from posd.app.daemon import Daemon
from posd.chain.devchain import free_port
from posd.config import keyfile
from posd.config import settings as configmod
from posd.proof.claimcode import claim_key

API_TOKEN = "apitok-" + os.urandom(12).hex()
POS_TOKEN = "postok-" + os.urandom(12).hex()
PASSPHRASE = "pass-" + os.urandom(8).hex()
RPC_KEY = "rpckey" + os.urandom(8).hex()
PAN = "4111111111111111"
TRACK = f"%B{PAN}^DOE/JOHN^2512101000000000000?"


def _till(tmp: Path) -> tuple[Path, keyfile.TillKeys]:
    state = tmp / "state"
    secret = tmp / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    secret.chmod(0o600)
    config = tmp / "posd.toml"
    config.write_text(
        f'[till]\nstate_dir = "{state}"\npassphrase_file = "{secret}"\n'
        f'[api]\nport = 0\ntoken = "{API_TOKEN}"\n'
        f'[pos_link]\ntoken = "{POS_TOKEN}"\n'
        f'[chain]\nrpc_url = "http://127.0.0.1:{free_port()}/v3/{RPC_KEY}"\n'
        '[[device]]\nkind = "printer"\ndriver = "simulated"\n'
        '[[device]]\nkind = "card_reader"\ndriver = "simulated"\nid = "card_reader:simulated"\n'
    )
    keys = provision(configmod.load(config), PASSPHRASE, fast_kdf=True)
    return config, keys


def test_the_bundle_holds_what_support_needs_and_no_secret(tmp_path: Path) -> None:
    config, keys = _till(tmp_path)
    cfg = configmod.load(config)
    daemon = Daemon(cfg)
    port = daemon.start()
    try:
        client = Client(f"http://127.0.0.1:{port}", API_TOKEN)
        assert client.post("/api/scan", {"code": "4006381333931"})[0] == 200
        status, done = client.post(
            "/api/sale/pay", {"tender": "card", "amount": 129, "reference": PAN}
        )
        assert status == 200 and "#" in done["claim_url"]
        claim_url = done["claim_url"]
        daemon.devices.simulated("card_reader").swipe(TRACK)
        assert client.post("/api/scan", {"code": TRACK})[0] in (400, 404)
        assert client.post("/api/scan", {"code": "5000112637922"})[0] == 200
        assert client.post("/api/sale/cancel", {})[0] == 200
    finally:
        daemon.stop()
    (cfg.state_dir / "posd.log").write_text(
        f"INFO card read {TRACK}\nWARNING pan {PAN} token {API_TOKEN}\nclaim {claim_url}\n"
    )

    bundle = tmp_path / "support.tar.gz"
    run = posd_cli("--config", str(config), "diag", "--bundle", str(bundle))
    assert run.returncode == 0, run.stderr
    assert f"wrote {bundle}" in run.stdout
    assert bundle.stat().st_mode & 0o077 == 0  # only its owner reads it

    with tarfile.open(bundle) as tar:
        files = {
            m.name.removeprefix("posd-bundle/"): tar.extractfile(m).read()
            for m in tar.getmembers()
            if m.isfile()
        }
    for name in ("config.json", "diag.json", "devices.json", "queue.json", "payments.json",
                 "events.json", "versions.json", "manifest.json", "logs/posd.log"):  # fmt: skip
        assert name in files, (name, sorted(files))

    key_text = cfg.key_file.read_text()
    seed = keys.claim_seed
    secrets = {
        "api token": API_TOKEN,
        "pos_link token": POS_TOKEN,
        "passphrase": PASSPHRASE,
        "rpc api key": RPC_KEY,
        "till key": keys.private_key.hex(),
        "claim seed": seed.hex(),
        "claim key": claim_key(seed, keys.address, done["seq"]).hex(),
        "claim url fragment": claim_url.split("#", 1)[1],
        "card number": PAN,
        "card number spaced": "4111 1111 1111 1111",
        "track data": TRACK,
        "key file ciphertext": json.loads(key_text)["till_key"]["crypto"]["ciphertext"],
    }
    for name, data in files.items():
        text = data.decode("utf-8", "replace")
        for what, secret in secrets.items():
            for form in {secret, secret.upper(), secret.lower()}:
                assert form not in text, f"{what} found in {name}"

    # and it is useful: the facts are there, the secrets only as redactions and masks
    conf = json.loads(files["config.json"])
    assert conf["api"]["token"] == "<redacted>" and conf["pos_link"]["token"] == "<redacted>"
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/<redacted>", conf["chain"]["rpc_url"])
    assert conf["till"]["passphrase_file"].endswith("passphrase")  # the path, not its content
    diag = json.loads(files["diag.json"])
    assert {"config", "key_file", "database"} <= {c["check"] for c in diag["checks"]}
    assert keys.address in files["diag.json"].decode()  # the public address stays
    assert json.loads(files["queue.json"])["proofs"]["counts"]["pending"] == 1
    assert json.loads(files["payments.json"])["today"]["tenders"]["card"]["count"] == 1
    kinds = [e["kind"] for e in json.loads(files["events.json"])]
    assert "till_bound" in kinds and "sale_cancelled" in kinds
    log = files["logs/posd.log"].decode()
    assert "411111******1111" in log and "<redacted>" in log
    versions = json.loads(files["versions.json"])
    assert (
        versions["packages"]["posd"]
        and "DSGMining.json" in versions["contract_artifacts_sha256_16"]
    )


# -- the journal: a bundle run as a user who may not read it says so ------------------------------
_HINT = (  # what journalctl (systemd 252, Debian 12) prints to a user outside systemd-journal
    "Hint: You are currently not seeing messages from other users and the system.\n"
    "      Users in groups 'adm', 'systemd-journal' can see all messages.\n"
    "      Pass -q to turn off this notice.\n"
)


def test_a_refused_journal_is_explained_in_journal_txt(tmp_path: Path) -> None:
    """journalctl answering "-- No entries --" plus its permission hint: the bundle's
    logs/journal.txt says the journal is missing and how to get it (root, or posd in the
    systemd-journal group), instead of an empty file."""
    import subprocess
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "journalctl"  # the real program's answer, replayed (this box has no journal)
    fake.write_text(
        "#!/bin/sh\necho '-- No entries --'\ncat >&2 <<'EOF'\n" + _HINT + "EOF\nexit 0\n"
    )
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    code = "from posd.app.bundle import journal; print(journal())"
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "journal is NOT in this bundle" in out and "systemd-journal" in out
    assert "sudo posd diag --bundle" in out and "not seeing messages" in out


def test_the_journal_as_an_unprivileged_user_with_the_real_journalctl(tmp_path: Path) -> None:
    """The real journalctl, run as nobody (the tests run as root here; else skipped)."""
    import shutil
    import subprocess
    import sys

    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("journalctl"):
        pytest.skip("needs root, setpriv and journalctl to run journalctl as another user")
    code = "from posd.app.bundle import journal; print(journal())"
    run = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "journal is NOT in this bundle" in run.stdout and "uid 65534" in run.stdout
