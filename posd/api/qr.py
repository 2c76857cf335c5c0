"""The DSG payment QR (DESIGN §10) as SVG, for the cashier page and the customer display.

Drawn on the till (``qrcode``'s SVG path factory, error correction M) so the pages need no CDN,
no build step and no script library: a page shows ``<img src="/api/payments/ID/qr.svg">``.
The QR carries the payment's EIP-681 ``uri`` and nothing else — never a ``claim_url``: only a
text that starts ``ethereum:`` is ever drawn. Served with the display scope (the shopper's
screen is read-only) and ``no-store``: an underpaid payment asks the rest under a new reference,
so its URI changes (the pages add the amount to the image URL as a cache-buster).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from posd.api.payments import payment_id
from posd.errors import NotFound

URI_SCHEME = "ethereum:"
MAX_URI = 512  # an EIP-681 transfer URI is ~170 characters
HEADERS = {
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-security-policy": "default-src 'none'",
}


class NoPaymentQr(NotFound):
    code = "no_payment_qr"


def svg(text: str) -> bytes:
    """``text`` as a QR code in SVG (error correction M, 4-module quiet zone, crisp edges)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, border=4, image_factory=SvgPathImage
    )
    qr.add_data(text)
    qr.make(fit=True)
    drawn = qr.make_image().to_string(encoding="unicode")
    # crispEdges: adjacent modules never show anti-aliased seams, whatever the screen's scale
    drawn = drawn.replace("<svg ", '<svg shape-rendering="crispEdges" ', 1)
    return drawn.encode()


def payable_uri(payment: dict[str, Any]) -> str:
    """The payment's EIP-681 URI; NotFound when it has none that a wallet could pay."""
    uri = payment.get("uri")
    if not isinstance(uri, str) or not uri.startswith(URI_SCHEME) or len(uri) > MAX_URI:
        raise NoPaymentQr(f"payment {payment.get('id', '')} has no payment URI to show")
    if "#" in uri:  # a fragment is how a claim key travels: never draw one
        raise NoPaymentQr(f"payment {payment.get('id', '')} has no payment URI to show")
    return uri


def qr_response(payment: dict[str, Any]) -> Response:
    """The SVG response for a payment object of DESIGN §10."""
    return Response(svg(payable_uri(payment)), media_type="image/svg+xml", headers=HEADERS)


def handler(lookup: Callable[[str, str], dict[str, Any]]):
    """``GET /api/payments/{id}/qr.svg`` over ``lookup(id, owner)`` (the till's ``payment``: the
    §10 object, NotFound if none). Asked with no owner, so not even the caller that started the
    payment gets a claim URL into this handler."""

    async def payment_qr(request: Request) -> Response:
        import asyncio

        payment = await asyncio.to_thread(lookup, payment_id(request), "")
        return qr_response(payment)

    return payment_qr
