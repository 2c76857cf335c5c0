"""The DSG payment QR route (``GET /api/payments/{id}/qr.svg``, DESIGN §10): the SVG decodes
back to the payment's EIP-681 URI, only an ``ethereum:`` URI is ever drawn (never a claim URL),
an unknown id is 404, and the display scope may read it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from posd.api import qr
from posd.errors import NotFound

UNKNOWN = "pay_0123456789abcdef"
VECTOR = json.loads((Path(__file__).parents[1] / "vectors.json").read_text())["payment_uri"]


def rasterize(svg: bytes, scale: int = 6) -> Image.Image:
    """Draw the SVG's one path of unit squares (qrcode's path factory) as a bitmap."""
    text = svg.decode()
    side = int(re.search(r'viewBox="0 0 (\d+) (\d+)"', text).group(1))
    image = Image.new("L", (side * scale, side * scale), 255)
    draw = ImageDraw.Draw(image)
    path = re.search(r'<path d="([^"]+)"', text).group(1)
    for x, y, x2, y2 in re.findall(r"M(\d+),(\d+)H(\d+)V(\d+)H\d+z", path):
        draw.rectangle(
            (int(x) * scale, int(y) * scale, int(x2) * scale - 1, int(y2) * scale - 1), fill=0
        )
    return image


def decode(svg: bytes) -> list[str]:
    import zxingcpp

    return [r.text for r in zxingcpp.read_barcodes(rasterize(svg))]


def test_the_svg_decodes_back_to_the_uri() -> None:
    svg = qr.svg(VECTOR["uri"])
    assert svg.startswith(b"<svg ") and b'shape-rendering="crispEdges"' in svg
    assert decode(svg) == [VECTOR["uri"]]


@pytest.mark.parametrize(
    "uri",
    [
        "https://claim.despend.example/c#A3kf9secret",  # a claim URL: never
        "ethereum:0xabc@31337/transfer#frag",  # a fragment: never
        "",
        None,
        "ethereum:" + "1" * 600,
    ],
)
def test_only_an_ethereum_uri_is_ever_drawn(uri: object) -> None:
    with pytest.raises(NotFound) as err:
        qr.qr_response({"id": "p1", "uri": uri, "claim_url": "https://x.example/c#secret"})
    assert err.value.code == "no_payment_qr" and err.value.http_status == 404


def test_the_response_is_svg_and_not_cached() -> None:
    response = qr.qr_response({"id": "p1", "uri": VECTOR["uri"], "claim_url": "https://x#k"})
    assert response.media_type == "image/svg+xml"
    assert response.headers["cache-control"] == "no-store"
    assert b"x#k" not in response.body and decode(response.body) == [VECTOR["uri"]]


def test_the_route_404_400_and_scopes(running) -> None:
    status, body = running.anon.get("/api/payments/p1/qr.svg")
    assert status == 401 and body["error"]["code"] == "unauthorized"
    status, body = running.client.get(f"/api/payments/{UNKNOWN}/qr.svg")
    assert status == 404 and body["error"]["code"] == "no_such_payment"
    for bad in ("x" * 65, "a%20b", "pay_123", "pay_0000000000000000%23frag"):
        status, body = running.client.get(f"/api/payments/{bad}/qr.svg")
        assert status == 400 and body["error"]["code"] == "bad_payment_id", bad
    display = running.paired("display")
    status, body = display.get(f"/api/payments/{UNKNOWN}/qr.svg")
    assert status == 404  # the display's session may read it (and learns nothing more)
