"""PNG renderer: a preview of the paper for the store owner, from the same layout blocks."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw, ImageFont

from posd.receipt.layout import Cut, Feed, Qr, Receipt, Rule, Text, layout, qr_modules

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
# Monospace fonts with € £ and accents, regular and bold; Pillow's own font is the last resort
# (it has no accented letters).
_FONTS = (
    ("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"),
    ("LiberationMono-Regular.ttf", "LiberationMono-Bold.ttf"),
    ("NotoSansMono-Regular.ttf", "NotoSansMono-Bold.ttf"),
    ("FreeMono.ttf", "FreeMonoBold.ttf"),
)
_FONT_PX = 20
_MARGIN = 16


@lru_cache(maxsize=8)
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for names in _FONTS:
        for root in _FONT_DIRS:
            for path in sorted(Path(root).rglob(names[bold])) if Path(root).is_dir() else []:
                return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def render_png(receipt: Receipt) -> Image.Image:
    """A preview of the paper for the store owner (grayscale; save with ``.save(path, "PNG")``).

    Characters sit in fixed cells, so columns line up even with Pillow's non-monospace fallback.
    """
    w = receipt.width
    base = _font(_FONT_PX, False)
    cell = max(1, round(base.getlength("M")))
    line_h = round(_FONT_PX * 1.3)
    paper = w * cell + 2 * _MARGIN
    blocks = layout(receipt)

    qr_images: dict[int, Image.Image] = {}
    height = _MARGIN
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            height += line_h * (2 if block.double else 1)
        elif isinstance(block, Rule):
            height += line_h
        elif isinstance(block, Qr):
            modules = qr_modules(block.data) + 8  # 4-module quiet zone each side
            box = max(2, int(w * cell * 0.7) // modules)
            qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box)
            qr.add_data(block.data)
            qr.make(fit=True)
            qr_images[i] = qr.make_image().get_image().convert("L")
            height += qr_images[i].height
        elif isinstance(block, Feed):
            height += line_h * block.lines
        elif isinstance(block, Cut):
            height += line_h
    height += _MARGIN

    image = Image.new("L", (paper, height), 255)
    draw = ImageDraw.Draw(image)
    y = _MARGIN
    for i, block in enumerate(blocks):
        if isinstance(block, Text):
            scale = 2 if block.double else 1
            font = _font(_FONT_PX * scale, block.bold)
            span = len(block.text) * scale
            col = {"center": (w - span) // 2, "right": w - span}.get(block.align, 0)
            for j, char in enumerate(block.text):
                x = _MARGIN + (col + j * scale) * cell
                draw.text((x, y), char, fill=0, font=font)
            y += line_h * scale
        elif isinstance(block, Rule):
            mid = y + line_h // 2
            draw.line((_MARGIN, mid, paper - _MARGIN, mid), fill=0, width=1)
            y += line_h
        elif isinstance(block, Qr):
            qr_img = qr_images[i]
            image.paste(qr_img, ((paper - qr_img.width) // 2, y))
            y += qr_img.height
        elif isinstance(block, Feed):
            y += line_h * block.lines
        elif isinstance(block, Cut):
            mid = y + line_h // 2
            for x in range(0, paper, 12):  # dashed tear line
                draw.line((x, mid, x + 6, mid), fill=160, width=1)
            y += line_h
    return image
