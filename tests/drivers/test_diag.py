"""Technician helpers: the serial probe on a real pty, config checks, the detect report."""

from __future__ import annotations

import json
import os
import threading
import time

from drivers import diag


def test_probe_serial_reports_terminators_not_data():
    master, slave = os.openpty()
    path = os.ttyname(slave)

    def typist():
        time.sleep(0.3)  # after the probe has opened (and set raw mode on) the port
        os.write(master, b"]E04006381333931\r\n12345\r\n")

    t = threading.Thread(target=typist)
    t.start()
    try:
        report = diag.probe_serial(path, seconds=0.8)
    finally:
        t.join()
        os.close(master)
        os.close(slave)
    assert report["ok"] and report["bytes"] == 25 and report["lines"] == 2
    assert report["suggested_terminator"] == "CRLF" and report["terminators"]["CRLF"] == 2
    assert report["aim_prefixed_lines"] == 1 and report["first_byte_after_s"] >= 0.2
    assert "4006381333931" not in json.dumps(report)  # no data unless asked


def test_probe_serial_show_data_and_missing_port(tmp_path):
    master, slave = os.openpty()
    try:
        os.write(master, b"")
        report = diag.probe_serial(os.ttyname(slave), seconds=0.2, show_data=True)
        assert report["ok"] and report["bytes"] == 0 and report["sample_hex"] == ""
        assert report["suggested_terminator"] is None
    finally:
        os.close(master)
        os.close(slave)
    missing = diag.probe_serial(str(tmp_path / "ttyNONE"), seconds=0.1)
    assert not missing["ok"] and "cannot open" in missing["error"]


def test_detect_report_is_json_and_checks_config():
    report = diag.detect(
        [
            {"kind": "scanner", "driver": "serial", "port": "/dev/ttyACM0"},
            {"kind": "scanner", "driver": "serial"},
        ]
    )
    json.dumps(report)
    assert isinstance(report["serial"], list) and isinstance(report["input"], list)
    good, bad = report["configured"]
    assert good == {
        "index": 0,
        "ok": True,
        "id": "scanner:serial:/dev/ttyACM0",
        "kind": "scanner",
        "driver": "serial",
    }
    assert not bad["ok"] and "'port'" in bad["error"]
