"""claim/dist is what `npm ci && npm run build` gives (DESIGN §9), byte for byte, on a fresh copy.

The fresh build is slow: `npm ci` fetches the locked packages from the npm registry (CI reaches it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DIST_FILES = ["claim.css", "claim.js", "index.html"]

CLAIM = Path(__file__).resolve().parents[2] / "claim"


def npm(*args: str, cwd: Path) -> None:
    npm_bin = shutil.which("npm")
    assert npm_bin, "npm is not on PATH (Node 20 + npm are part of the toolchain, README)"
    proc = subprocess.run(
        [npm_bin, *args, "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, f"npm {' '.join(args)}: {proc.stdout}\n{proc.stderr}"


@pytest.mark.slow
def test_fresh_build_reproduces_dist(tmp_path: Path) -> None:
    copy = tmp_path / "claim copy"  # another absolute path, with a space: it must not leak in
    shutil.copytree(
        CLAIM, copy, ignore=shutil.ignore_patterns("node_modules", "dist", "test-artifacts")
    )
    npm("ci", cwd=copy)
    npm("run", "build", cwd=copy)
    built = sorted(p.name for p in (copy / "dist").iterdir())
    assert built == sorted(p.name for p in (CLAIM / "dist").iterdir()) == DIST_FILES
    for name in DIST_FILES:
        fresh = (copy / "dist" / name).read_bytes()
        committed = (CLAIM / "dist" / name).read_bytes()
        assert fresh == committed, (
            f"claim/dist/{name} differs from a fresh build: run npm run build"
        )
        assert str(tmp_path).encode() not in fresh and str(CLAIM).encode() not in fresh


def test_dist_loads_nothing_from_other_hosts() -> None:
    html = (CLAIM / "dist" / "index.html").read_text()
    assert 'src="/claim.js"' in html and 'href="/claim.css"' in html
    for asset in DIST_FILES:
        text = (CLAIM / "dist" / asset).read_text()
        assert "fonts.googleapis" not in text and "@import" not in text
    assert "http://" not in html and "https://" not in html
