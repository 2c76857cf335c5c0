"""Coverage-guided fuzzing in CI: every atheris target runs for a bounded time over its committed
seed corpus (tests/fuzz/corpus/<target>/) and must end with 0 crashes.

``POSD_FUZZ_SECONDS`` (default 10) sets the time per target; 9 targets take about two minutes.
atheris ships wheels for x86-64 Linux only: elsewhere the hypothesis properties
(tests/fuzz/test_properties.py, in the fast set) are the net.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
TARGETS = [
    "claim_url",
    "claim_bytes",
    "scanner",
    "keymap",
    "card",
    "catalog_csv",
    "config_toml",
    "barcode",
    "masking",
]
SECONDS = int(os.environ.get("POSD_FUZZ_SECONDS", "10"))
SUPPORTED = sys.platform == "linux" and platform.machine() == "x86_64"


def test_every_target_has_a_committed_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(TARGETS)
    assert all(any((CORPUS / t).iterdir()) for t in TARGETS)


@pytest.mark.skipif(not SUPPORTED, reason="atheris has wheels for x86-64 Linux only")
@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_finds_no_crash(target: str, tmp_path: Path) -> None:
    work = tmp_path / "work"  # libFuzzer adds new inputs to the first directory, not the corpus
    work.mkdir()
    cmd = [sys.executable, str(HERE / "harness.py"), target]
    cmd += [f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=2048"]
    cmd += [f"-artifact_prefix={tmp_path}/", str(work), str(CORPUS / target)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=SECONDS + 120)
    artifacts = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert r.returncode == 0 and not artifacts, f"{target}: {artifacts}\n{r.stderr[-3000:]}"
    assert "DONE" in r.stderr and "Done " in r.stderr  # it really fuzzed
