#!/usr/bin/env python3
"""(Re)build contracts/build/*.json (ABI + bytecode) from the Vyper sources.

The daemon loads these committed artifacts and needs no compiler; tests/contracts/test_artifacts.py
fails if they differ from a fresh compile. Usage: `python contracts/compile.py [--check]`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD = HERE / "build"
SOURCES = {
    "DSGToken": "DSGToken.vy",
    "DSGMining": "DSGMining.vy",
    "DSGStaking": "DSGStaking.vy",
    "TestStable": "TestStable.vy",
}
FORMATS = "abi,bytecode,bytecode_runtime,blueprint_bytecode"


def compiler_version() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "--version"], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def compile_one(name: str) -> dict:
    """Compile one source (snekmate resolves from site-packages) into the artifact dict."""
    out = subprocess.run(
        [sys.executable, "-m", "vyper", "-f", FORMATS, SOURCES[name]],
        cwd=HERE,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"vyper failed on {SOURCES[name]}:\n{out.stderr}")
    abi, bytecode, runtime, blueprint = out.stdout.strip().splitlines()
    return {
        "contractName": name,
        "source": f"contracts/{SOURCES[name]}",
        "compiler": f"vyper {compiler_version()}",
        "abi": json.loads(abi),
        "bytecode": bytecode,
        "deployedBytecode": runtime,
        "blueprintBytecode": blueprint,
    }


def render(artifact: dict) -> str:
    return json.dumps(artifact, indent=1, sort_keys=True) + "\n"


def build_all() -> dict[str, str]:
    return {name: render(compile_one(name)) for name in SOURCES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed artifacts differ")
    args = parser.parse_args()
    fresh = build_all()
    if args.check:
        stale = [n for n, text in fresh.items() if _read(BUILD / f"{n}.json") != text]
        if stale:
            print(f"stale artifacts: {', '.join(stale)} (run contracts/compile.py)")
            return 1
        print("artifacts up to date")
        return 0
    BUILD.mkdir(exist_ok=True)
    for name, text in fresh.items():
        (BUILD / f"{name}.json").write_text(text)
        print(f"wrote contracts/build/{name}.json")
    return 0


def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


if __name__ == "__main__":
    sys.exit(main())
