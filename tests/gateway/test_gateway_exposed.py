"""The gateway as an attacker on the internet meets it, on a real anvil and real sockets: the
page's Content-Security-Policy, oversized and slow request heads, slow bodies, X-Forwarded-For
from an untrusted peer, a flood of lookups (rate limited, and bounded in what it costs the node),
odd seqs and address spellings, and JSON tricks — none of which spends gas."""

from __future__ import annotations

import json
import time

import pytest
from eth_account import Account
from gateway_kit import (
    CountingRpc,
    RunningGateway,
    World,
    http,
    raw_connection,
    read_until_closed,
)

from posd.chain.devchain import Anvil

pytestmark = pytest.mark.anvil

CSP_DIRECTIVES = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
}


@pytest.fixture(scope="module")
def world():
    with Anvil() as anvil:
        w = World.create(anvil)
        w.commit([100 + i for i in range(10)])
        yield w


@pytest.fixture(scope="module")
def gw(world, tmp_path_factory):
    state = tmp_path_factory.mktemp("gw")
    dist = state / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>claim</title>")
    with RunningGateway(world, state, page_dir=dist, request_timeout_s=1.0) as running:
        yield running


def test_page_routes_carry_a_strict_csp(gw):
    for path in ("/", "/c", "/nope.js"):
        status, _, headers = http("GET", gw.url + path)
        assert status in (200, 404), path
        directives = {d.strip() for d in headers["content-security-policy"].split(";")}
        assert directives == CSP_DIRECTIVES, path
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
    _, _, headers = http("GET", gw.url + "/api/config")
    assert headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers  # no version banner


def test_the_built_claim_page_needs_nothing_the_csp_forbids():
    """claim/dist/index.html: no inline script or style, no style attribute, nothing external."""
    from posd.gateway.service import DEFAULT_PAGE_DIR

    index = DEFAULT_PAGE_DIR / "index.html"
    if not index.is_file():
        pytest.skip("claim/dist is not built")
    html = index.read_text()
    assert "<style" not in html and " style=" not in html
    for tag in html.split("<script")[1:]:
        assert "src=" in tag.split(">", 1)[0] and tag.split(">", 1)[1].startswith("</script>")
    assert "http://" not in html and "https://" not in html


def test_oversized_request_head_is_refused(gw):
    with raw_connection(gw.url) as sock:
        sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: x\r\nX-Junk: " + b"a" * 64 * 1024)
        sock.sendall(b"\r\n\r\n")
        answer = read_until_closed(sock)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400"), answer[:80]  # or a reset
    assert http("GET", gw.url + "/api/config")[0] == 200  # and it still serves


def test_oversized_chunked_body_is_refused(world, gw):
    """No Content-Length to go by: the limit counts the chunks as they arrive."""
    relayer = gw.account.address
    before = world.w3.eth.get_transaction_count(relayer, "pending")
    head = (
        b"POST /api/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b'{"pad": "' + b"a" * 4000
    with raw_connection(gw.url) as sock:
        sock.sendall(head)
        try:
            for _ in range(6):  # 6 × 4 KiB: over 16 KiB
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # it answered and closed before the rest arrived
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:80]
    assert b'"code":"too_large"' in answer.replace(b" ", b"")
    assert world.w3.eth.get_transaction_count(relayer, "pending") == before
    assert http("GET", gw.url + "/api/config")[0] == 200  # and it still serves


def test_slow_request_head_is_cut_off(gw):
    started = time.monotonic()
    with raw_connection(gw.url) as sock:
        sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: x\r\n")
        closed = False
        for _ in range(30):  # a slowloris: one header byte every 0.2 s, never done
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "the server kept a never-ending request head open"
    assert time.monotonic() - started < 3.5  # request_timeout_s = 1.0


def test_slow_request_head_on_a_kept_alive_connection_is_cut_off(gw):
    with raw_connection(gw.url) as sock:
        sock.sendall(b"GET /api/config HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b'"staking"' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        sock.sendall(b"GET /api/config HTTP/1.1\r\n")
        for _ in range(30):
            time.sleep(0.2)
            try:
                sock.sendall(b"X")  # each byte would reset uvicorn's keep-alive timer
            except OSError:
                break
        assert read_until_closed(sock) == b""
        assert time.monotonic() - started < 3.5


def test_slow_body_gets_408(world, gw):
    with raw_connection(gw.url) as sock:
        sock.sendall(
            b"POST /api/claims HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 300\r\n\r\n" + b'{"till": "0x'
        )
        started = time.monotonic()
        sock.settimeout(5)
        answer = b""
        while b"}}" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    assert b'"request_timeout"' in answer
    assert time.monotonic() - started < 3


def test_forwarded_for_from_an_untrusted_peer_is_ignored(world, tmp_path):
    pending = world.claim_body(999, Account.create().address)  # refused cheaply: pending
    with RunningGateway(world, tmp_path / "a", claims_per_minute=2) as small:
        codes = []
        for i in range(4):
            spoof = {"X-Forwarded-For": f"203.0.113.{i}"}
            status, body, _ = http("POST", small.url + "/api/claims", pending, headers=spoof)
            codes.append(body["error"]["code"])
        assert codes == ["pending", "pending", "rate_limited", "rate_limited"]
    with RunningGateway(
        world, tmp_path / "b", claims_per_minute=2, trusted_proxies=["127.0.0.1/32"]
    ) as proxied:
        codes = []
        for i in range(4):  # behind a trusted proxy: the client it names is who is counted
            spoof = {"X-Forwarded-For": f"203.0.113.{i}"}
            codes.append(http("POST", proxied.url + "/api/claims", pending, headers=spoof)[1])
        assert [c["error"]["code"] for c in codes] == ["pending"] * 4
        same = {"X-Forwarded-For": "198.51.100.7, 127.0.0.1"}  # the proxy appended itself
        codes = [
            http("POST", proxied.url + "/api/claims", pending, headers=same)[1]["error"]["code"]
            for _ in range(3)
        ]
        assert codes == ["pending", "pending", "rate_limited"]


def test_lookups_are_rate_limited(world, tmp_path):
    with RunningGateway(world, tmp_path, lookups_per_minute=5) as small:
        url = f"{small.url}/api/receipts/{world.till.address}/1"
        statuses = [http("GET", url)[0] for _ in range(7)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        status, body, _ = http("GET", url)
        assert (status, body["error"]["code"]) == (429, "rate_limited")


def test_a_lookup_flood_costs_the_node_a_bounded_number_of_calls(world, tmp_path):
    proxy = CountingRpc(world.anvil.url)
    try:
        with RunningGateway(
            world, tmp_path, rpc_url=proxy.url, poll_interval_s=3600, lookups_per_minute=10**6
        ) as quiet:
            proxy.calls.clear()  # from here on: only what lookups ask
            till = world.till.address
            cases = [(f"{Account.create().address}/{i + 1}", "pending") for i in range(100)]
            cases += [(f"{till}/{10**6 + i}", "pending") for i in range(50)]  # not committed
            cases += [(f"{till}/{s}", "claimable") for s in range(1, 11)] * 3  # each 3 times
            for path, state in cases:
                status, body, _ = http("GET", f"{quiet.url}/api/receipts/{path}")
                assert (status, body["state"]) == (200, state), path
            # once per batch (its records, its currency) and once per distinct amount (reward)
            assert len(proxy.calls) <= 2 + 10, proxy.calls
    finally:
        proxy.close()


def test_seq_and_address_spellings(world, gw):
    till = world.till.address
    base = f"{gw.url}/api/receipts"
    for seq in ("-1", "+1", "0", "1.0", "1e3", "%D9%A3", "0x1", str(2**64), "9" * 25, "%201"):
        status, body, _ = http("GET", f"{base}/{till}/{seq}")
        assert (status, body["error"]["code"]) == (400, "bad_request"), seq
    same = [http("GET", f"{base}/{t}/3")[1] for t in (till, till.lower(), "0x" + till[2:].upper())]
    assert same[0] == same[1] == same[2] and same[0]["state"] == "claimable"
    typo = till[:2] + till[2:].swapcase()  # mixed case with a wrong checksum
    status, body, _ = http("GET", f"{base}/{typo}/3")
    assert status == 400 and "checksum" in body["error"]["message"]
    recipient = Account.create().address
    bad_case = recipient[:2] + recipient[2:].swapcase()
    if bad_case[2:] not in (bad_case[2:].lower(), bad_case[2:].upper()):
        status, body, _ = http(
            "POST",
            gw.url + "/api/claims",
            {**world.claim_body(3, recipient), "recipient": bad_case},
        )
        assert status == 400 and "checksum" in body["error"]["message"]


def test_json_tricks_are_refused_without_gas(world, gw):
    relayer = gw.account.address
    before = (world.balance(relayer), world.w3.eth.get_transaction_count(relayer, "pending"))
    good = world.claim_body(4, Account.create().address)
    other = world.claim_body(4, Account.create().address)
    dup = json.dumps(good)[:-1] + ', "recipient": "' + other["recipient"] + '"}'
    cases = {
        "duplicate key": dup.encode(),
        "NaN seq": json.dumps({**good, "seq": float("nan")}).encode(),
        "huge number": json.dumps(good).replace('"seq": 4', '"seq": ' + "9" * 5000).encode(),
        "float seq": json.dumps({**good, "seq": 4.0}).encode(),
        "bool seq": json.dumps({**good, "seq": True}).encode(),
        "deep nesting": b"[" * 5000 + b"]" * 5000,
        "not utf-8": b'{"till": "\xff"}',
        "a list": b"[1, 2]",
        "empty": b"",
        "seq as hex": json.dumps({**good, "seq": "0x4"}).encode(),
        "seq negative": json.dumps({**good, "seq": -4}).encode(),
        "extra huge seq": json.dumps({**good, "seq": 2**64}).encode(),
    }
    for name, raw in cases.items():
        status, body, _ = http("POST", gw.url + "/api/claims", raw=raw)
        assert (status, body["error"]["code"]) == (400, "bad_request"), (name, body)
    status, body, _ = http("POST", gw.url + "/api/claims", raw=dup.encode())
    assert "repeats the key 'recipient'" in body["error"]["message"]
    world.anvil.rpc("evm_mine")
    after = (world.balance(relayer), world.w3.eth.get_transaction_count(relayer, "pending"))
    assert after == before and not world.is_claimed(4)
