"""Finding #1 of issue 8 (DESIGN §7): no page but the till's own drives the till.

Each test talks real HTTP to a running daemon. Before the fix, `GET /` handed the API token to
any caller in a cookie and no Host, Origin or content type was checked: a DNS-rebound page could
read the token and pay.
"""

from __future__ import annotations

import http.client
import json
import socket

import pytest
from helpers.daemon_util import Client

SCAN = {"code": "4006381333931", "qty": 1}
ROUTES_NEEDING_AUTH = [
    ("GET", "/api/sale"),
    ("GET", "/api/queue"),
    ("GET", "/api/events"),
    ("GET", "/api/openapi.json"),
    ("POST", "/api/scan"),
    ("POST", "/api/sale/void-line"),
    ("POST", "/api/sale/cancel"),
    ("POST", "/api/sale/pay"),
    ("POST", "/api/sales/1/refund"),
    ("POST", "/api/receipts/1/reprint"),
]


@pytest.mark.parametrize(
    "host",
    ["attacker.example:{port}", "127.0.0.1:1", "localhost", "127.0.0.1", "evil.localhost:{port}"],
)
def test_a_foreign_host_is_421_on_every_route(running, host: str) -> None:
    header = {"Host": host.format(port=running.port)}
    for path in ("/", "/tech", "/display", "/api/status", "/api/sale", "/metrics", "/pair?code=X"):
        status, body = running.client.get(path, headers=header)
        assert status == 421, (path, status, body)
        assert body["error"]["code"] == "misdirected_request"
    status, _ = running.client.post("/api/scan", SCAN, headers=header)
    assert status == 421
    assert running.daemon.register.sale.lines == []


def test_loopback_names_on_the_port_are_allowed(running) -> None:
    for host in ("127.0.0.1:{p}", "localhost:{p}", "[::1]:{p}", "LOCALHOST:{p}"):
        status, body = running.anon.get(
            "/api/status", headers={"Host": host.format(p=running.port)}
        )
        assert status == 200 and body["till"] == running.daemon.keys.address


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_foreign_origin_cannot_mutate_even_with_the_token(running, headers) -> None:
    status, body = running.client.post("/api/scan", SCAN, headers=headers)
    assert status == 403 and body["error"]["code"] in ("foreign_origin", "cross_site")
    assert running.daemon.register.sale.lines == []


def test_the_own_origin_may_mutate(running) -> None:
    own = {"Origin": running.base, "Sec-Fetch-Site": "same-origin"}
    assert running.client.post("/api/scan", SCAN, headers=own)[0] == 200


@pytest.mark.parametrize(
    "ctype",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""],
)
def test_mutating_bodies_must_be_json(running, ctype: str) -> None:
    status, body = running.client.post(
        "/api/scan", raw=b'{"code": "4006381333931"}', headers={"Content-Type": ctype}
    )
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    assert running.daemon.register.sale.lines == []
    ok = running.client.post(
        "/api/scan",
        raw=b'{"code": "4006381333931"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert ok[0] == 200


def test_a_body_over_64_kib_is_413(running) -> None:
    big = b'{"code": "' + b"4" * (65 * 1024) + b'"}'
    status, body = running.client.post("/api/scan", raw=big)
    assert status == 413 and body["error"]["code"] == "too_large"
    # exactly at the bound is read (and refused for what it says, not its size)
    at = b'{"code": "' + b"4" * (64 * 1024 - 12) + b'"}'
    assert len(at) == 64 * 1024
    assert running.client.post("/api/scan", raw=at)[0] == 400


def test_a_chunked_body_over_64_kib_is_413(running) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    chunks = (b"x" * 4096 for _ in range(20))  # 80 KiB, no Content-Length
    conn.request(
        "POST",
        "/api/scan",
        body=chunks,
        headers={
            "Authorization": f"Bearer {running.daemon.api_token}",
            "Content-Type": "application/json",
        },
        encode_chunked=True,
    )
    resp = conn.getresponse()
    assert resp.status == 413, resp.read()
    conn.close()


def test_a_huge_content_length_is_refused_before_the_body_is_sent(running) -> None:
    with socket.create_connection(("127.0.0.1", running.port), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /api/scan HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n"
                f"Authorization: Bearer {running.daemon.api_token}\r\n"
                "Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n"
            ).encode()
        )
        answer = sock.recv(4096)  # no body sent: a server waiting for it would time out here
    assert answer.startswith(b"HTTP/1.1 413"), answer


def test_every_api_route_but_status_needs_auth(running) -> None:
    for method, path in ROUTES_NEEDING_AUTH:
        status, body = running.anon.call(method, path, {} if method == "POST" else None)
        assert status == 401, (method, path, status)
        assert body["error"]["code"] == "unauthorized"
    wrong = Client(running.base, "not-the-token", cookie="posd_tech=forged; posd_cashier=x")
    for method, path in ROUTES_NEEDING_AUTH:
        assert wrong.call(method, path, {} if method == "POST" else None)[0] == 401, path
    assert running.anon.get("/api/status")[0] == 200


def test_no_unauthenticated_request_receives_the_token(running) -> None:
    token = running.daemon.api_token
    for path in ("/", "/tech", "/display", "/api/status", "/metrics", "/pair?code=ABCDEFGHJK"):
        conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
        conn.request("GET", path)
        resp = conn.getresponse()
        text = resp.read().decode(errors="replace")
        cookies = resp.headers.get_all("set-cookie") or []
        conn.close()
        assert token not in text and not any(token in c for c in cookies), path
        assert cookies == [], (path, cookies)
        if path in ("/", "/tech", "/display"):
            assert resp.status == 401 and "posd pair" in text


def test_scopes_display_reads_cashier_sells_tech_refunds(running) -> None:
    display, cashier, tech = (running.paired(s) for s in ("display", "cashier", "tech"))

    assert display.get("/api/sale")[0] == 200
    status, body = display.post("/api/scan", SCAN)
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert cashier.post("/api/scan", SCAN)[0] == 200
    status, done = cashier.post("/api/sale/pay", {"tender": "cash", "amount": 500})
    assert status == 200 and done["complete"]
    assert cashier.post(f"/api/receipts/{done['seq']}/reprint")[0] == 200
    assert cashier.post(f"/api/sales/{done['seq']}/refund")[0] == 403
    assert tech.post(f"/api/sales/{done['seq']}/refund")[0] == 200

    for page, allowed in (("/display", display), ("/", cashier), ("/tech", tech)):
        status, html = allowed.get(page)
        assert status == 200 and "<html" in html, page
    assert display.get("/")[0] == 403 and cashier.get("/tech")[0] == 403


def test_a_refused_small_body_is_read_so_the_answer_is_never_lost(running) -> None:
    """Answering before reading the body, then closing, resets the connection: the client may
    lose the 415 (schemathesis saw "connection reset" this way)."""
    conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    auth = {"Authorization": f"Bearer {running.daemon.api_token}"}
    for _ in range(3):  # the same keep-alive connection carries each next request
        conn.request(
            "POST",
            "/api/sale/cancel",
            body=b"x" * 5000,
            headers={**auth, "Content-Type": "text/plain"},
        )
        resp = conn.getresponse()
        assert resp.status == 415 and b"unsupported_media_type" in resp.read()
        conn.request("GET", "/api/status")
        resp = conn.getresponse()
        assert resp.status == 200
        resp.read()
    conn.close()


def test_only_the_paying_caller_gets_the_claim_url(running, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    cashier, display = running.paired("cashier"), running.paired("display")
    cashier.post("/api/scan", SCAN)
    status, done = cashier.post("/api/sale/pay", {"tender": "cash", "amount": 500})
    assert status == 200 and "#" in done["claim_url"]
    fragment = done["claim_url"].split("#", 1)[1]
    seen = [
        display.get("/api/sale")[1],
        display.get("/api/queue")[1],
        running.anon.get("/api/status")[1],
        running.anon.get("/metrics")[1],
        display.get("/display")[1],
        cashier.get("/")[1],
        cashier.post(f"/api/receipts/{done['seq']}/reprint")[1],
    ]
    text = json.dumps(seen) + caplog.text
    assert fragment not in text and "claim_url" not in text
