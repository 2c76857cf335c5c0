"""Issue 8 #8: one bad row never aborts a catalog import; each is reported by line and field."""

from __future__ import annotations

from pathlib import Path

from helpers.daemon_util import posd_cli

from posd.proof.leaf import MAX_AMOUNT
from posd.till.catalog import Catalog

ROWS = [
    "barcode,name,price_minor,tax_rate",  # line 1
    "4006381333931,Pen,129,19",  # 2: good
    "5000112637922,Cola,1²9,19",  # 3: superscript digit in the price
    f"4001686301265,Gummies,{MAX_AMOUNT + 1},7",  # 4: over 2^48 - 1
    f"3017620422003,Spread,{2**63},7",  # 5: over int64
    f"96385074,Beans,{'9' * 5000},7",  # 6: 5000 digits (int() refuses over 4300)
    "036000291452,Tissues,249,19%",  # 7: bad tax rate
    "2112345,Cheese,0,٧",  # 8: Arabic-Indic seven as the tax rate
    "4000000000006,Ink,100,-0",  # 9: negative zero
    "2²²²²²²,Embedded item,0,7",  # 10: superscripts look like an embedded item
    "40063813339３1,Full-width,100,7",  # 11: full-width digit in the barcode
    f"{'1' * 300},Long,1,7",  # 12: a code over 256 characters
    f"4000000000013,Max,{MAX_AMOUNT},7.5",  # 13: good, at the bound
]


def test_bad_rows_are_reported_and_the_good_ones_imported(tmp_path: Path, store) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text("\n".join(ROWS) + "\n", encoding="utf-8")
    result = Catalog(store).import_csv(csv)
    assert [(e.line, e.field) for e in result.errors] == [
        (3, "price_minor"),
        (4, "price_minor"),
        (5, "price_minor"),
        (6, "price_minor"),
        (7, "tax_rate"),
        (8, "tax_rate"),
        (9, "tax_rate"),
        (10, "barcode"),
        (11, "barcode"),
        (12, "barcode"),
    ]
    messages = {e.line: str(e) for e in result.errors}
    assert str(MAX_AMOUNT) in messages[4] and str(MAX_AMOUNT) in messages[5]
    assert "5000 characters" in messages[6]  # the message stays short
    assert "digit" in messages[11]
    assert result.imported == 2
    catalog = Catalog(store)
    assert catalog.get("4006381333931").price_minor == 129
    assert catalog.get("4000000000013").price_minor == MAX_AMOUNT
    assert catalog.get("5000112637922") is None


def test_the_cli_reports_each_bad_row_and_exits_non_zero(tmp_path: Path) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text("\n".join(ROWS[:6]) + "\n", encoding="utf-8")
    r = posd_cli("--state-dir", str(tmp_path / "s"), "catalog", "import", str(csv), "--json")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    for line in (3, 4, 5, 6):
        assert f"line {line}: price_minor" in r.stderr
    assert '"imported": 1' in r.stdout


def test_a_row_that_is_not_utf8_is_reported_and_the_rest_imported(tmp_path: Path, store) -> None:
    """Found by fuzzing: a byte that is not UTF-8 made the reader raise on every next() — the
    import looped forever, appending errors until memory ran out."""
    csv = tmp_path / "catalog.csv"
    csv.write_bytes(
        b"barcode,name,price_minor,tax_rate\n"
        b"4006381333931,Pen,129,19\n"
        b"5000112637922,Caf\xe9 latin-1,189,19\n"
        b"4001686301265,Gummies,149,7\n"
    )
    result = Catalog(store).import_csv(csv)
    assert [(e.line, e.field) for e in result.errors] == [(3, "row")]
    assert "UTF-8" in str(result.errors[0])
    assert result.imported == 2
