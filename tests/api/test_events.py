"""Finding #6 of issue 8: idle event streams never slow the sale routes; subscribers are bounded.

Before the fix each SSE subscriber held a thread of the default executor (6 on this machine), so
40 idle streams made a payment wait seconds. Here 60 real HTTP connections open the stream
against a running daemon: the first 32 are served, the rest refused with 503, and a sale is
still paid in well under a second; a stream that hangs up frees its place at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

from helpers.daemon_util import make_daemon, pair_cookie

from posd.api.events import MAX_SUBSCRIBERS, EventStream


def _open_stream(port: int, auth: str) -> tuple[socket.socket, bytes]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        (
            f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n"
            "Accept: text/event-stream\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            break
        head += chunk
    return sock, head


def _read_until(sock: socket.socket, needle: bytes, seen: bytes, timeout: float = 5) -> bytes:
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    while needle not in seen and time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        seen += chunk
    return seen


def test_sixty_idle_streams_neither_starve_a_payment_nor_exceed_the_bound(running) -> None:
    auth = f"Authorization: Bearer {running.daemon.api_token}"
    streams: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(60):
            sock, head = _open_stream(running.port, auth)
            if head.startswith(b"HTTP/1.1 200"):
                assert b"text/event-stream" in head
                streams.append(sock)
            else:
                assert head.startswith(b"HTTP/1.1 503"), head
                assert b"too_many_streams" in _read_until(sock, b"}}", head)
                sock.close()
                refused += 1
        assert (len(streams), refused) == (MAX_SUBSCRIBERS, 60 - MAX_SUBSCRIBERS), (
            f"{len(streams)} streams served, {refused} refused"
        )

        started = time.monotonic()
        assert running.client.post("/api/scan", {"code": "4006381333931"})[0] == 200
        status, done = running.client.post("/api/sale/pay", {"tender": "cash", "amount": 500})
        took = time.monotonic() - started
        assert status == 200 and done["complete"], done
        assert took < 1.0, f"scan + pay took {took:.2f} s with {len(streams)} idle streams"

        # every open stream got the sale, without its claim URL
        fragment = done["claim_url"].split("#", 1)[1]
        for sock in (streams[0], streams[-1]):
            seen = _read_until(sock, b"event: sale_completed", b"")
            assert b"event: sale_completed" in seen and b"event: line_added" in seen
            assert fragment.encode() not in seen and b"claim_url" not in seen

        # a client that hangs up frees its place at once (even when an event arrives just then:
        # see test_a_hang_up_together_with_an_event_still_frees_the_place)
        for sock in streams[:5]:
            sock.close()
        streams = streams[5:]
        deadline = time.monotonic() + 10
        reopened = 0
        while reopened < 5 and time.monotonic() < deadline:
            sock, head = _open_stream(running.port, auth)
            if head.startswith(b"HTTP/1.1 200"):
                streams.append(sock)
                reopened += 1
            else:
                sock.close()
                time.sleep(0.05)
        assert reopened == 5, f"only {reopened} of 5 closed streams' places freed within 10 s"
    finally:
        for sock in streams:
            sock.close()


def test_the_stream_needs_auth_and_a_display_session_is_enough(running) -> None:
    sock, head = _open_stream(running.port, "X-Nothing: 1")
    sock.close()
    assert head.startswith(b"HTTP/1.1 401")
    cookie = pair_cookie(running.daemon.config.db_path, running.base, "display")
    sock, head = _open_stream(running.port, f"Cookie: {cookie}")
    try:
        assert head.startswith(b"HTTP/1.1 200")
        running.daemon.bus.publish("unknown_product", {"code": "4000000000013"})
        seen = _read_until(sock, b"4000000000013", head)
        frame = seen.split(b"event: unknown_product\ndata: ", 1)[1].split(b"\n\n", 1)[0]
        assert json.loads(frame)["data"]["code"] == "4000000000013"
    finally:
        sock.close()


def test_streams_end_when_the_till_stops(running) -> None:
    auth = f"Authorization: Bearer {running.daemon.api_token}"
    sock, head = _open_stream(running.port, auth)
    assert head.startswith(b"HTTP/1.1 200")
    running.daemon.stopping.set()
    sock.settimeout(5)
    seen = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        chunk = sock.recv(4096)
        seen += chunk
        if not chunk or (head + seen).endswith(b"\r\n0\r\n\r\n"):  # closed, or last chunk
            break
    sock.close()
    assert time.monotonic() < deadline, "the stream stayed open after the till stopped"
    assert running.client.get("/api/events")[0] == 503


def test_stop_ends_the_streams_and_the_api_before_the_till_closes(tmp_path) -> None:
    daemon = make_daemon(tmp_path, [])
    port = daemon.start()
    sock, head = _open_stream(port, f"Authorization: Bearer {daemon.api_token}")
    try:
        assert head.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        daemon.stop()
        took = time.monotonic() - started
        # the API thread is gone before stop() returns: nothing it serves outlives the database
        assert daemon.server is not None and not daemon.server.alive()
        assert took < 5, f"stop took {took:.1f} s with one open stream"
        seen = _read_until(sock, b"\r\n0\r\n\r\n", head, timeout=1)
        assert seen.endswith(b"\r\n0\r\n\r\n")  # the stream was ended properly, not cut
    finally:
        sock.close()


def test_a_hang_up_together_with_an_event_still_frees_the_place() -> None:
    """On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that comes with a result: the
    stream of a page that hung up just as an event arrived lived on and held its place."""

    class Hub:
        def __init__(self) -> None:
            self.closed: list[asyncio.Queue] = []

        def close(self, sub: asyncio.Queue) -> None:
            self.closed.append(sub)

    async def one_round() -> bool:
        hub, sub = Hub(), asyncio.Queue()
        hung_up = asyncio.Event()
        requests = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive() -> dict:
            if requests:
                return requests.pop()
            await hung_up.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            await asyncio.sleep(0)

        task = asyncio.ensure_future(EventStream(hub, sub)({"type": "http"}, receive, send))
        for _ in range(5):
            await asyncio.sleep(0)  # the stream waits for its next event
        hung_up.set()
        sub.put_nowait({"id": 1, "kind": "sale_completed", "data": {}})
        try:
            # well under the 1 s bound the stream gives its tasks: the pump itself ended
            await asyncio.wait_for(asyncio.shield(task), 0.5)
        except TimeoutError:
            task.cancel()
            return False
        return hub.closed[:1] == [sub]

    async def rounds() -> list[bool]:
        return [await one_round() for _ in range(5)]

    results = asyncio.run(rounds())
    assert all(results), (
        f"{results.count(False)} of 5 hung-up streams did not end and free their place at once"
    )
