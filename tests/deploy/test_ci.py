"""`.ci/run` runs the suite with CI=true, so tests that skip without a tool on a developer's
machine (systemd-analyze for the install check) fail in CI instead of silently skipping."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_run_exports_ci_true_to_the_test_script(tmp_path: Path) -> None:
    (tmp_path / ".ci").mkdir()
    (tmp_path / "scripts").mkdir()
    shutil.copy2(ROOT / ".ci" / "run", tmp_path / ".ci" / "run")
    probe = tmp_path / "scripts" / "test.sh"  # stands in for the suite: reports what it got
    probe.write_text('#!/bin/sh\necho "CI=${CI:-unset}"\n')
    probe.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    run = subprocess.run(
        [str(tmp_path / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "CI=true"
