"""Configuration, key file and catalog import: clear errors that name the file, line and key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers.daemon_util import posd_cli

from posd.config import keyfile
from posd.config import settings as configmod
from posd.config.settings import ConfigError
from posd.till.catalog import Catalog


def test_defaults_for_everything() -> None:
    cfg = configmod.load(None)
    assert cfg.store.currency == "EUR" and cfg.chain.flush_interval_s == 30
    assert cfg.chain.max_batch == 256 and cfg.api.port == 8710 and cfg.chain.confirmations == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[chain]\nmax_batch = 'lots'\n", r"\[chain\] max_batch: expected an integer, got 'lots'"),
        ("[chain]\nmax_batch = 999\n", r"\[chain\] max_batch: expected 1..256"),
        ("[receipt]\nwidth = 40\n", r"\[receipt\] width: expected 32, 42 or 48"),
        ("[store]\ncurrency = 'euro'\n", r"\[store\] currency"),
        ("[store]\ncolour = 'red'\n", r"\[store\] colour: unknown key"),
        ("[shop]\nname = 'x'\n", r"unknown section \[shop\]"),
        ("[store\nname = 'x'\n", r"not valid TOML.*line 1"),
        (
            "[[device]]\nkind = 'scanner'\ndriver = 'serial'\n",
            r"\[\[device\]\] #1: device entry: missing key 'port'",
        ),
        (
            "[[device]]\nkind = 'toaster'\ndriver = 'serial'\n",
            r"\[\[device\]\] #1: .*'kind' = 'toaster'",
        ),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "posd.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected) as exc:
        configmod.load(path)
    assert str(path) in str(exc.value)


def test_config_and_file_errors_share_the_root() -> None:
    """One error root: a config, key file, catalog or barcode mistake is the caller's (exit 2),
    and code that caught the old builtin bases still does."""
    from posd.errors import BadInput
    from posd.till.barcode import BadBarcode
    from posd.till.catalog import CatalogFileError

    for cls, base, code in (
        (ConfigError, ValueError, "bad_config"),
        (keyfile.KeyFileError, RuntimeError, "key_file"),
        (CatalogFileError, ValueError, "bad_catalog_file"),
        (BadBarcode, ValueError, "bad_barcode"),
    ):
        err = cls("what was wrong")
        assert isinstance(err, BadInput) and isinstance(err, base)
        assert (err.code, err.exit_code, err.http_status, str(err)) == (
            code, 2, 400, "what was wrong",
        )  # fmt: skip


def test_set_values_merges_and_validates(tmp_path: Path) -> None:
    path = tmp_path / "posd.toml"
    path.write_text("[store]\nname = 'Corner Shop'\n")
    configmod.set_values(path, {"chain": {"mining_address": "0x" + "ab" * 20}})
    cfg = configmod.load(path)
    assert cfg.store.name == "Corner Shop" and cfg.chain.mining_address == "0x" + "ab" * 20
    with pytest.raises(ConfigError):
        configmod.set_values(path, {"chain": {"max_batch": 0}})
    assert configmod.load(path).chain.max_batch == 256  # a refused write leaves the file alone


def test_key_file_plain_and_encrypted(tmp_path: Path) -> None:
    keys = keyfile.generate()
    plain = tmp_path / "plain.key"
    keyfile.save(plain, keys)
    assert (plain.stat().st_mode & 0o777) == 0o600
    assert keyfile.load(plain) == keys
    os.chmod(plain, 0o644)
    with pytest.raises(keyfile.KeyFileError, match="readable by others"):
        keyfile.load(plain)
    enc = tmp_path / "enc.key"
    keyfile.save(enc, keys, "s3cret", fast_kdf=True)
    assert keys.claim_seed.hex() not in enc.read_text()
    assert keyfile.load(enc, "s3cret") == keys
    with pytest.raises(keyfile.KeyFileError, match="wrong passphrase"):
        keyfile.load(enc, "nope")
    with pytest.raises(keyfile.KeyFileError, match="encrypted"):
        keyfile.load(enc)
    assert keys.private_key.hex() not in repr(keys)


def test_config_init_check_show(tmp_path: Path) -> None:
    cfg, state = tmp_path / "posd.toml", tmp_path / "state"
    pw = tmp_path / "pw"
    pw.write_text("correct horse\n")
    r = posd_cli(
        "--config",
        str(cfg),
        "--state-dir",
        str(state),
        "config",
        "init",
        "--passphrase-file",
        str(pw),
    )
    assert r.returncode == 0, r.stderr
    assert (state / "till.key").stat().st_mode & 0o777 == 0o600
    r = posd_cli("--config", str(cfg), "config", "check")
    assert r.returncode == 0, r.stdout + r.stderr
    r = posd_cli("--config", str(cfg), "config", "show", "--json")
    assert r.returncode == 0 and "<redacted>" in r.stdout
    token = configmod.load(cfg).api.token
    assert token and token not in r.stdout
    r = posd_cli("--config", str(cfg), "config", "init")
    assert r.returncode != 0 and "exists" in r.stderr
    pw.write_text("wrong\n")
    r = posd_cli("--config", str(cfg), "config", "check")
    assert r.returncode == 2 and "wrong passphrase" in r.stdout


def test_catalog_import_reports_bad_rows_by_line(tmp_path: Path, store) -> None:
    csv = tmp_path / "catalog.csv"
    csv.write_text(
        "barcode,name,price_minor,tax_rate\n"
        "4006381333931,Pen,129,19\n"
        "4006381333932,Bad check digit,100,19\n"
        "5000112637922,Cola,1.89,19\n"
        "4001686301265,Gummies,149,7.5\n"
        "96385074,Beans,649,abc\n"
        ",No barcode,1,7\n"
        "036000291452,Tissues,249,19,extra\n"
        "2112345,Cheese by price,0,7\n"
    )
    result = Catalog(store).import_csv(csv)
    assert result.imported == 3
    assert [(e.line, e.field) for e in result.errors] == [
        (3, "barcode"),
        (4, "price_minor"),
        (6, "tax_rate"),
        (7, "barcode"),
        (8, "row"),
    ]
    assert Catalog(store).get("4001686301265").tax_rate == 7.5


def test_catalog_import_cli_while_db_is_open(tmp_path: Path) -> None:
    state = tmp_path / "state"
    csv = tmp_path / "c.csv"
    csv.write_text("barcode,name,price_minor,tax_rate\n4006381333931,Pen,129,19\nnope,,x,y\n")
    from posd.db.store import Store

    held = Store(state / "posd.db")  # another process (the daemon) has the database open
    held.conn.execute("BEGIN")
    held.conn.execute("SELECT count(*) FROM products").fetchone()
    r = posd_cli("--state-dir", str(state), "catalog", "import", str(csv))
    held.conn.execute("COMMIT")
    assert r.returncode == 1
    assert "line 3: name: empty" in r.stderr
    assert Catalog(held).get("4006381333931").name == "Pen"
    held.close()
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("code,title\n1,2\n")
    r = posd_cli("--state-dir", str(state), "catalog", "import", str(wrong))
    assert r.returncode == 2 and "line 1: header must be" in r.stderr
