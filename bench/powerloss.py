"""Power-loss soak (issue 8): kill -9 of the whole till — `posd run --simulate` and its anvil —
at random points across sales and flushes, round after round, on one state dir.

Each round starts the daemon (its anvil reloads the state file it dumps every second), drives
sales through the local API from a thread, and at a random moment SIGKILLs the daemon's process
group and anvil's (anvil runs in its own session) back to back, in random order: a power cut.
Some rounds cut during start-up, before `ready`. After every cut the database must pass
`PRAGMA integrity_check` and hold every sale the API acknowledged, with the claim key its
claim URL carried. At the end one clean run flushes everything; then the chain must hold seqs
1..N exactly once, each batch's root the till's own proofs', and no claim key was issued twice.

Prints one JSON object; exits 1 when a check failed. `--rounds 100` is the issue's soak.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from posd import proof  # noqa: E402
from posd.proof.claimcode import ClaimPayload, address_of  # noqa: E402

CONFIG = """\
[store]
name = "Powerloss Shop"

[chain]
flush_interval_s = 1
confirmations = 1
max_batch = 8
"""
ZERO = "0x" + "00" * 20
PRODUCTS = ("4006381333931", "5000112637922")


class Till:
    """One `posd run --simulate` in its own session, its stdout read by a thread."""

    def __init__(self, state: Path, config: Path) -> None:
        cmd = [sys.executable, "-m", "posd.cli.main", "--state-dir", str(state)]
        cmd += ["--config", str(config), "run", "--simulate"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.state = state
        self.log = state.parent / "daemon.log"
        with open(self.log, "a") as log:
            log.write(f"--- start {time.strftime('%H:%M:%S')}\n")
            log.flush()
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT, env=env,
                start_new_session=True,
            )  # fmt: skip
        self.lines: dict[str, str] = {}
        self.ready = threading.Event()
        self._q: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            key, _, value = line.strip().partition(": ")
            self.lines[key] = value
            if key == "ready":
                self.ready.set()

    def children(self) -> list[int]:
        """This state dir's anvils (the daemon's child, or one a crashed start left behind):
        every process whose command line names our anvil state file, read from /proc."""
        needle = str(self.state / "anvil" / "state.json").encode()
        pids: list[int] = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if needle in (entry / "cmdline").read_bytes() and not _gone(int(entry.name)):
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def wait_ready(self, timeout: float) -> bool:
        """``ready`` seen within ``timeout`` s; False at once when the daemon has exited."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.ready.is_set():
            if self.proc.poll() is not None:
                return self.ready.wait(0.5)
            self.ready.wait(0.1)
        return self.ready.is_set()

    def why(self) -> str:
        """The daemon's last stderr lines (for a start that failed)."""
        try:
            return " | ".join(self.log.read_text().strip().splitlines()[-3:])
        except OSError:
            return ""

    def power_cut(self, rng: random.Random) -> None:
        """SIGKILL the daemon's group and its anvil's group, back to back, in random order."""
        groups = {os.getpgid(self.proc.pid)} if self.proc.poll() is None else set()
        for pid in self.children():
            try:
                groups.add(os.getpgid(pid))
            except ProcessLookupError:
                pass
        order = sorted(groups)
        rng.shuffle(order)
        for pgid in order:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait(timeout=30)
        for pid in self.children():
            _wait_gone(pid)

    def stop(self) -> None:
        """A clean stop (SIGTERM: anvil dumps its state)."""
        children = self.children()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pid in children:
            _wait_gone(pid)


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_gone(pid: int, timeout: float = 15) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if _gone(pid):
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def _call(base: str, token: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def sell(
    till: Till,
    stop: threading.Event,
    acked: dict[int, dict[str, Any]],
    errors: list[str],
    rng: random.Random,
) -> None:
    """Sales through the API until the cut; each acknowledged sale is recorded with its URL."""
    base, token = till.lines.get("api", ""), till.lines.get("token", "")
    while not stop.is_set():
        try:
            for _ in range(rng.randint(1, 3)):
                _call(base, token, "/api/scan", {"code": rng.choice(PRODUCTS), "qty": 1})
            status, done = _call(base, token, "/api/sale/pay", {"tender": "cash", "amount": 10**6})
        except (OSError, ValueError, http.client.HTTPException):
            return  # the power went
        if status == 200 and isinstance(done, dict) and "seq" in done:
            acked[int(done["seq"])] = {"url": done.get("claim_url"), "total": done["total"]}
        elif status >= 500:
            errors.append(f"{status}: {done}")
        time.sleep(rng.uniform(0, 0.05))


def db_check(db: Path, acked: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """integrity_check, and every acknowledged sale's proof as its claim URL said."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        rows = {
            seq: (amount, claim)
            for seq, amount, claim in conn.execute("SELECT seq, amount, claim_address FROM proofs")
        }
        states = dict(conn.execute("SELECT state, count(*) FROM proofs GROUP BY state"))
    finally:
        conn.close()
    lost = []
    for seq, sale in acked.items():
        row = rows.get(seq)
        expect = address_of(ClaimPayload.from_url(sale["url"]).claim_key) if sale["url"] else None
        if row is None or row[0] != sale["total"] or (expect and row[1] != expect):
            lost.append(seq)
    return {"integrity": integrity, "lost": lost, "proofs": len(rows), "states": states}


def chain_check(state: Path, rpc: str) -> dict[str, Any]:
    """Seqs 1..N on chain exactly once, in batches whose roots are the till's proofs'."""
    from web3 import Web3

    from posd.chain import contracts

    settings = json.loads((state / "simulate.json").read_text())
    conn = sqlite3.connect(f"file:{state / 'posd.db'}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT till, seq, amount, time, claim_address FROM proofs ORDER BY seq"
        ).fetchall()
        confirmed_batches = conn.execute(
            "SELECT count(*) FROM batches WHERE state = 'confirmed'"
        ).fetchone()[0]
    finally:
        conn.close()
    till = rows[0][0] if rows else ZERO
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    mining = contracts.mining_contract(w3, settings["mining_address"])
    leaves = {r[1]: proof.Leaf(*r) for r in rows}
    expect, duplicated, bad_roots = 1, 0, 0
    count = mining.functions.batchCount(till).call()
    for i in range(count):
        first, n, root = mining.functions.batch(till, i).call()
        if first != expect:
            duplicated += max(0, expect - first)
        batch = [leaves.get(s) for s in range(first, first + n)]
        if None in batch or proof.merkle_root([proof.leaf_hash(x) for x in batch]) != root:
            bad_roots += 1
        expect = first + n
    return {
        "next_seq_chain": mining.functions.nextSeq(till).call(),
        "proofs_local": len(rows),
        "on_chain": expect - 1,
        "batches_chain": count,
        "batches_confirmed_local": confirmed_batches,
        "duplicated_on_chain": duplicated,
        "bad_roots": bad_roots,
        "claim_addresses_distinct": len({r[4] for r in rows if r[4] != ZERO})
        == len([r for r in rows if r[4] != ZERO]),
    }


def wait_flushed(db: Path, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
        try:
            left = conn.execute("SELECT count(*) FROM proofs WHERE state != 'confirmed'").fetchone()
        finally:
            conn.close()
        if left[0] == 0:
            return True
        time.sleep(0.5)
    return False


def soak(rounds: int, seed: int, state: Path, max_up: float) -> dict[str, Any]:
    rng = random.Random(seed)
    state.mkdir(parents=True, exist_ok=True)
    config = state.parent / f"{state.name}.toml"
    config.write_text(CONFIG)
    db = state / "posd.db"
    acked: dict[int, dict[str, Any]] = {}
    errors: list[str] = []
    report: dict[str, Any] = {"rounds": rounds, "seed": seed, "state_dir": str(state)}
    startup, integrity_failures, lost_ever = [], 0, set()
    start_errors: list[str] = []
    failing = 0
    cut_before_ready, cut_mid_flush, failed_starts = 0, 0, 0
    started = time.monotonic()
    for r in range(rounds):
        till = Till(state, config)
        t0 = time.monotonic()
        early = r > 0 and rng.random() < 0.1  # some cuts land during start-up and reconcile
        if early:
            till.wait_ready(rng.uniform(0.3, 3.0))
            cut_before_ready += not till.ready.is_set()
        elif not till.wait_ready(120):
            failed_starts += 1
            start_errors.append(f"round {r}: {till.why()}")
        if till.ready.is_set() and not early:
            startup.append(time.monotonic() - t0)
            stop = threading.Event()
            args = (till, stop, acked, errors, rng)
            seller = threading.Thread(target=sell, args=args, daemon=True)
            seller.start()
            time.sleep(rng.uniform(0.2, max_up))
            till.power_cut(rng)
            stop.set()
            seller.join(15)
        else:
            till.power_cut(rng)
        failing = failing + 1 if not till.ready.is_set() and not early else 0
        if failing >= 3:
            break  # nothing starts any more: say why instead of waiting 100 times
        if not db.exists():
            continue
        check = db_check(db, acked)
        integrity_failures += check["integrity"] != "ok"
        lost_ever.update(check["lost"])
        cut_mid_flush += bool(check["states"].get("sending") or check["states"].get("committed"))
    report["rounds_run"] = r + 1
    # the last, clean run: everything flushes and confirms
    till = Till(state, config)
    final: dict[str, Any] = {"started": till.wait_ready(120)}
    if not final["started"]:
        final["why"] = till.why()
    if final["started"]:
        final["flushed"] = wait_flushed(db, 180)
        final |= chain_check(state, till.lines["rpc"])
    till.stop()
    check = db_check(db, acked)
    integrity_failures += check["integrity"] != "ok"
    lost_ever.update(check["lost"])
    server_errors = len(errors)
    claim_keys = [ClaimPayload.from_url(s["url"]).claim_key for s in acked.values() if s["url"]]
    startup.sort()
    report |= {
        "seconds": round(time.monotonic() - started, 1),
        "sales_acknowledged": len(acked),
        "proofs_in_db": check["proofs"],
        "proofs_lost": len(lost_ever),
        "lost_seqs": sorted(lost_ever)[:20],
        "duplicated_on_chain": final.get("duplicated_on_chain"),
        "integrity_check_failures": integrity_failures,
        "claim_keys_distinct": len(set(claim_keys)) == len(claim_keys)
        and final.get("claim_addresses_distinct", False),
        "cuts_before_ready": cut_before_ready,
        "cuts_with_batches_in_flight": cut_mid_flush,
        "failed_starts": failed_starts,
        "start_errors": start_errors[:3],
        "server_errors": server_errors,
        "server_error_samples": errors[:3],
        "anvil_state_files_moved_aside": len(list((state / "anvil").glob("*.corrupt-*"))),
        "startup_s_p50": round(startup[len(startup) // 2], 2) if startup else None,
        "startup_s_max": round(startup[-1], 2) if startup else None,
        "final": final,
    }
    report["ok"] = bool(
        final.get("flushed")
        and report["proofs_lost"] == 0
        and final.get("duplicated_on_chain") == 0
        and final.get("bad_roots") == 0
        and final.get("next_seq_chain") == check["proofs"] + 1
        and integrity_failures == 0
        and report["claim_keys_distinct"]
        and failed_starts == 0
        and report["rounds_run"] == rounds
        and server_errors == 0
    )
    return report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--max-up", type=float, default=4.0, help="longest run before a cut (s)")
    ap.add_argument("--dir", type=Path, default=None, help="state dir (default: a temp dir)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="posd-powerloss-"))
    report = soak(args.rounds, args.seed, base / "state", args.max_up)
    print(json.dumps(report, indent=2, sort_keys=True), flush=True)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
