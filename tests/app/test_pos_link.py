"""The ``[pos_link]`` listener (DESIGN §7, §12): a second server in a real in-process daemon, on
127.0.0.1, with its own token and IP allow-list, serving only ``POST /api/sales`` and
``GET /api/status``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from helpers.daemon_util import Client, make_daemon, pair_cookie

from posd.app.pos_link import link_token
from posd.errors import BadInput

SALE = {
    "external_id": "kasse-7/42",
    "lines": [{"name": "Coffee", "qty": 2, "unit_price": 180, "tax_rate": 19}],
    "payments": [{"tender": "card", "amount": 360}],
}
TOKEN = "pos-link-token-for-tests-0123456789"


def start(
    tmp_path: Path, allow: list[str], token: str = TOKEN, listen: str = "127.0.0.1:0", **chain
):
    """A till with the POS link on ``listen`` (its [chain] settings: ``chain``); (daemon, API port)."""
    daemon = make_daemon(
        tmp_path,
        [{"kind": "printer", "driver": "simulated", "dir": str(tmp_path / "printer")}],
        **chain,
    )
    daemon.config.pos_link.listen = listen
    daemon.config.pos_link.allow = allow
    daemon.config.pos_link.token = token
    port = daemon.start()
    return daemon, port


@pytest.fixture
def linked(tmp_path: Path):
    daemon, port = start(tmp_path, ["127.0.0.0/8"])
    try:
        yield daemon, Client(f"http://127.0.0.1:{daemon.pos_link_port}", TOKEN), port
    finally:
        daemon.stop()


def test_sales_and_status_with_the_token_from_an_allowed_address(linked) -> None:
    daemon, pos, _ = linked
    assert daemon.pos_link_port and daemon.pos_link_port != linked[2]
    status, body = pos.get("/api/status")
    assert status == 200 and body["till"] == daemon.keys.address and "sale" not in body
    status, done = pos.post("/api/sales", SALE)
    assert status == 200 and done["seq"] == 1 and done["claim_url"], done
    assert pos.post("/api/sales", SALE) == (200, done)  # a retry over the link: same answer
    # the POS addresses the till by its LAN address: any Host is fine here
    assert pos.get("/api/status", headers={"Host": "192.168.1.20:8711"})[0] == 200


def test_nothing_else_is_reachable(linked) -> None:
    daemon, pos, port = linked
    for path in ("/api/scan", "/api/sale/pay", "/api/sales/1/refund", "/api/drawer/open",
                 "/api/receipts/1/reprint", "/pair"):  # fmt: skip
        status, body = pos.post(path, {})
        assert (status, body["error"]["code"]) == (404, "not_found"), path
    for path in ("/", "/tech", "/display", "/api/sale", "/api/events", "/api/queue", "/metrics",
                 "/api/openapi.json"):  # fmt: skip
        assert pos.get(path)[0] == 404, path
    # the local API's bearer token and a paired page's cookie count for nothing here
    local = Client(pos.base, daemon.api_token)
    assert local.get("/api/status")[0] == 401
    cookie = pair_cookie(daemon.store.path, f"http://127.0.0.1:{port}", "tech")
    assert Client(pos.base, None, cookie).post("/api/sales", SALE)[0] == 401


def test_wrong_or_missing_token_is_401(linked) -> None:
    _, pos, _ = linked
    for token in ("wrong", None, TOKEN + "x"):
        status, body = Client(pos.base, token).post("/api/sales", SALE)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert Client(pos.base, token).get("/api/status")[0] == 401


def test_body_rules_hold_on_the_link(linked) -> None:
    _, pos, _ = linked
    status, body = pos.post("/api/sales", raw=b"x" * (65 * 1024))
    assert status == 413
    status, body = pos.post("/api/sales", SALE, headers={"Content-Type": "text/plain"})
    assert (status, body["error"]["code"]) == (415, "unsupported_media_type")
    status, body = pos.post("/api/sales", SALE, headers={"Origin": "http://evil.example"})
    assert status == 403


def test_an_address_outside_the_allow_list_is_403(tmp_path: Path) -> None:
    daemon, _ = start(tmp_path, ["10.0.0.0/8", "192.168.1.20"])
    try:
        pos = Client(f"http://127.0.0.1:{daemon.pos_link_port}", TOKEN)
        for call in (lambda: pos.get("/api/status"), lambda: pos.post("/api/sales", SALE),
                     lambda: pos.get("/nothing")):  # fmt: skip
            status, body = call()
            assert (status, body["error"]["code"]) == (403, "address_not_allowed")
        assert daemon.outbox.get(1) is None
    finally:
        daemon.stop()


def test_token_generated_once_and_kept_private(tmp_path: Path) -> None:
    daemon, _ = start(tmp_path, ["127.0.0.1"], token="")
    path = tmp_path / "pos_link.token"
    try:
        token = path.read_text().strip()
        assert len(token) >= 30 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert (
            Client(f"http://127.0.0.1:{daemon.pos_link_port}", token).get("/api/status")[0] == 200
        )
        assert link_token(daemon.config) == token  # kept: the next start uses it again
    finally:
        daemon.stop()


def test_a_till_sale_in_progress_is_untouched(linked) -> None:
    daemon, pos, port = linked
    cashier = Client(f"http://127.0.0.1:{port}", daemon.api_token)
    assert cashier.post("/api/scan", {"code": "4006381333931"})[0] == 200
    assert cashier.post("/api/sale/pay", {"tender": "card", "amount": 100})[1]["complete"] is False
    before = cashier.get("/api/sale")[1]
    status, done = pos.post("/api/sales", SALE)
    assert status == 200 and done["seq"] == 1
    assert cashier.get("/api/sale")[1] == before  # mid-payment, as it was
    status, paid = cashier.post("/api/sale/pay", {"tender": "cash", "amount": 29})
    assert status == 200 and paid["seq"] == 2 and paid["total"] == 129


def test_config_check_names_bad_pos_link_keys() -> None:
    from posd.config import settings

    for section, key in (
        ({"listen": "nowhere"}, "listen"),
        ({"allow": ["not-a-network"]}, "allow"),
        ({"token": "short"}, "token"),
    ):
        with pytest.raises(BadInput, match=key) as info:
            settings.from_dict({"pos_link": section}, "posd.toml")
        assert "short" not in str(info.value) or key != "token"  # a token is never echoed


def test_status_on_the_link_never_carries_the_rpc_url(tmp_path: Path) -> None:
    """An RPC provider's API key lives in [chain] rpc_url: the LAN POS gets the till, its state
    and the link state, never the URL (nor the mining address, device paths or the open cart)."""
    secret = "k3y-0f-the-rpc-provider-5f2a9c"
    daemon, port = start(tmp_path, ["127.0.0.1"], rpc_url=f"http://127.0.0.1:9/v3/{secret}")
    try:
        local = Client(f"http://127.0.0.1:{port}", daemon.api_token)
        assert secret in local.get("/api/status")[1]["chain"]["rpc_url"]  # the till's own page
        status, body = Client(f"http://127.0.0.1:{daemon.pos_link_port}", TOKEN).get("/api/status")
        assert status == 200, body
        assert secret not in str(body) and "rpc_url" not in str(body)
        assert set(body) == {"till", "till_name", "store", "state", "chain", "printer"}
        assert body["till"] == daemon.keys.address and body["state"]
        assert set(body["chain"]) == {"link", "chain_id"} and body["chain"]["link"]
        assert body["printer"]["status"] in ("ok", "unknown", "problem", "none")
    finally:
        daemon.stop()


def test_the_link_binds_a_lan_address_the_till_has_not_got_yet(tmp_path: Path, caplog) -> None:
    """The unit does not wait for network-online.target: at boot the LAN address may come later
    (DHCP). The listener binds it anyway (IP_FREEBIND) instead of stopping the till."""
    import logging
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("IP_FREEBIND is Linux's")
    caplog.set_level(logging.WARNING, "posd.app.pos_link")
    # TEST-NET-1: never this machine's
    daemon, port = start(tmp_path, ["192.0.2.0/24"], listen="192.0.2.77:0")
    try:
        assert daemon.pos_link_port and daemon.pos_link_port != port
        assert "not an address of this machine yet" in caplog.text
        assert Client(f"http://127.0.0.1:{port}", daemon.api_token).get("/api/status")[0] == 200
    finally:
        daemon.stop()
