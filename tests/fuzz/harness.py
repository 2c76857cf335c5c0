"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser of outside bytes.

    .venv/bin/python tests/fuzz/harness.py TARGET [libFuzzer flags] [CORPUS_DIR ...]

e.g. ``tests/fuzz/harness.py catalog_csv -max_total_time=60 /tmp/work tests/fuzz/corpus/catalog_csv``
(libFuzzer writes new inputs into the first directory: give it a scratch one before the
committed corpus). Each target feeds its bytes to the same check as the hypothesis properties
(tests/helpers/fuzz_targets.py); an exception that is not the parser's documented error, or a
broken invariant, is a crash. Inputs map to the parser directly (text targets decode the bytes
as UTF-8), so a seed file reads like the real input; a leading option byte picks modes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import atheris  # noqa: E402

with atheris.instrument_imports(include=["drivers", "posd", "helpers"]):
    from helpers import fuzz_targets as t


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _pick(data: bytes, choices: list) -> tuple:
    """(choice from the first byte, the rest)."""
    if not data:
        return choices[0], b""
    return choices[data[0] % len(choices)], data[1:]


def scanner(data: bytes) -> None:
    terminators, rest = _pick(data, t.TERMINATORS)
    aim_ids, rest = _pick(rest, [False, True])
    chunks, i = [], 0
    while i < len(rest):  # the byte at i gives the next chunk's length
        size = rest[i] % 64 + 1
        chunks.append(rest[i + 1 : i + 1 + size])
        i += 1 + size
    t.scanner_stream(chunks, terminators, aim_ids)


def keymap(data: bytes) -> None:
    tab, rest = _pick(data, [False, True])
    events = [
        ((1, 1, 1, 0, 4)[rest[i] % 5], rest[i + 1], rest[i + 2] % 4 - 1)
        for i in range(0, len(rest) - 2, 3)
    ]
    t.key_events(events, tab)


def card(data: bytes) -> None:
    mode, rest = _pick(data, ["auto", "magstripe", "nfc"])
    uid_format, rest = _pick(rest, ["auto", "hex", "decimal"])
    t.card_line(_text(rest), mode, uid_format)
    t.nfc_uid(_text(rest), uid_format)


def barcode(data: bytes) -> None:
    symbology, rest = _pick(data, ["", "ean13", "ean8", "upce", "upca", "qr"])
    embedded, rest = _pick(rest, ["price", "weight"])
    t.barcode_text(_text(rest), symbology, embedded)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "claim_url": lambda data: t.claim_url(_text(data)),
    "claim_bytes": t.claim_bytes,
    "scanner": scanner,
    "keymap": keymap,
    "card": card,
    "catalog_csv": t.catalog_csv,
    "config_toml": lambda data: t.config_toml(_text(data)),
    "barcode": barcode,
    "masking": lambda data: t.masking(_text(data)),
}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: harness.py {{{'|'.join(TARGETS)}}} [libFuzzer flags] [corpus dirs]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
