"""Test helpers for ESC/POS: a small parser of what python-escpos sends, a QR module reader for
raster images, and a fake network printer (a TCP listener on 127.0.0.1).

Public helpers other tests import: ``parse``, ``kicks``, ``extract_qr_data``, ``extract_text``,
``extract_lines``, ``extract_images``, ``qr_matrix``, ``read_qr_matrix``, ``FakePrinter``,
``free_port`` (devchain's, re-exported).
"""

from __future__ import annotations

import codecs
import socket
import struct
import threading
from dataclasses import dataclass

import qrcode
from PIL import Image

from posd.chain.devchain import free_port as free_port  # a port nothing listens on

ESC, GS, DLE = 0x1B, 0x1D, 0x10
# Commands python-escpos emits, by their byte after ESC / GS: number of fixed parameter bytes.
_ESC_ARGS = {
    b"@": 0, b"t": 1, b"!": 1, b"E": 1, b"-": 1, b"a": 1, b"M": 1, b"d": 1, b"2": 0, b"3": 1,
    b"A": 1, b"+": 1, b"{": 1, b"G": 1, b"r": 1, b"J": 1, b"p": 3, b"=": 1, b"B": 2, b"*": None,
}  # fmt: skip
_GS_ARGS = {b"!": 1, b"B": 1, b"b": 1, b"|": 1, b"H": 1, b"h": 1, b"w": 1, b"f": 1, b"L": 2}


class Incomplete(ValueError):
    """The buffer ends inside a command (the listener waits for more bytes)."""


@dataclass(frozen=True)
class Command:
    """One ESC/POS command: ``name`` like "ESC t", "GS ( k", "GS v 0", "DLE EOT", "LF"."""

    name: str
    args: bytes = b""
    data: bytes = b""


Token = Command | bytes  # bytes: printable text in the current code page


def _need(raw: bytes, end: int) -> None:
    if end > len(raw):
        raise Incomplete(f"command needs {end} bytes, have {len(raw)}")


def _one(raw: bytes, i: int) -> tuple[Token, int]:
    """The token at ``raw[i]`` and the offset after it."""
    b = raw[i]
    if b == ESC:
        _need(raw, i + 2)
        op = raw[i + 1 : i + 2]
        if op == b"c":  # ESC c 5 n (panel buttons) and friends: two more bytes
            _need(raw, i + 4)
            return Command("ESC c", raw[i + 2 : i + 4]), i + 4
        if op == b"*":  # ESC * m nL nH d1..dk (column image)
            _need(raw, i + 5)
            m, n = raw[i + 2], raw[i + 3] | raw[i + 4] << 8
            size = n * (3 if m in (32, 33) else 1)
            _need(raw, i + 5 + size)
            return Command("ESC *", raw[i + 2 : i + 5], raw[i + 5 : i + 5 + size]), i + 5 + size
        if op not in _ESC_ARGS:
            raise ValueError(f"unknown command ESC {op!r} at offset {i}")
        end = i + 2 + _ESC_ARGS[op]
        _need(raw, end)
        return Command(f"ESC {op.decode()}", raw[i + 2 : end]), end
    if b == GS:
        _need(raw, i + 2)
        op = raw[i + 1 : i + 2]
        if op == b"(":  # GS ( fn pL pH data
            _need(raw, i + 5)
            fn = raw[i + 2 : i + 3].decode()
            size = raw[i + 3] | raw[i + 4] << 8
            _need(raw, i + 5 + size)
            return Command(f"GS ( {fn}", b"", raw[i + 5 : i + 5 + size]), i + 5 + size
        if op == b"v":  # GS v 0 m xL xH yL yH data
            _need(raw, i + 8)
            xbytes, height = struct.unpack_from("<HH", raw, i + 4)
            end = i + 8 + xbytes * height
            _need(raw, end)
            return Command("GS v 0", raw[i + 3 : i + 8], raw[i + 8 : end]), end
        if op == b"V":  # GS V m, or GS V m n for m in 65/66
            _need(raw, i + 3)
            end = i + 4 if raw[i + 2] in (65, 66) else i + 3
            _need(raw, end)
            return Command("GS V", raw[i + 2 : end]), end
        if op not in _GS_ARGS:
            raise ValueError(f"unknown command GS {op!r} at offset {i}")
        end = i + 2 + _GS_ARGS[op]
        _need(raw, end)
        return Command(f"GS {op.decode()}", raw[i + 2 : end]), end
    if b == DLE:
        _need(raw, i + 3)
        if raw[i + 1] != 0x04:
            raise ValueError(f"unknown command DLE {raw[i + 1]:#x} at offset {i}")
        return Command("DLE EOT", raw[i + 2 : i + 3]), i + 3
    if b == 0x0A:
        return Command("LF"), i + 1
    if b in (0x0D, 0x09, 0x0C, 0x07):
        return Command({0x0D: "CR", 0x09: "HT", 0x0C: "FF", 0x07: "BEL"}[b]), i + 1
    if b < 0x20:
        raise ValueError(f"unknown control byte {b:#x} at offset {i}")
    j = i
    while j < len(raw) and raw[j] >= 0x20:
        j += 1
    return raw[i:j], j


def parse(raw: bytes, partial: bool = False) -> list[Token]:
    """Split an ESC/POS stream into commands and text runs. Unknown commands raise ValueError
    (a test should notice bytes it does not understand); ``partial`` stops quietly at a
    command cut off at the end (for a listener reading a stream)."""
    out: list[Token] = []
    i = 0
    while i < len(raw):
        try:
            token, i = _one(raw, i)
        except Incomplete:
            if partial:
                break
            raise
        out.append(token)
    return out


def kicks(raw: bytes) -> list[bytes]:
    """The ESC p (drawer kick) commands' arguments (m, t1, t2) in a stream."""
    return [t.args for t in parse(raw) if isinstance(t, Command) and t.name == "ESC p"]


def extract_qr_data(raw: bytes) -> list[str]:
    """Every native QR payload: ``GS ( k`` store-data (``1D 28 6B pL pH 31 50 30 <data>``)."""
    return [
        t.data[3:].decode("utf-8")
        for t in parse(raw)
        if isinstance(t, Command) and t.name == "GS ( k" and t.data[:3] == b"1P0"
    ]


def _decoder(profile: str, index: int):
    """A byte → char function for code page ``index`` of a python-escpos profile. Uses Python's
    own codec where one exists (independent of escpos), else escpos's table."""
    from escpos.capabilities import get_profile
    from escpos.codepages import CodePages

    name = get_profile(profile).codePages[str(index)] if index is not None else "CP437"
    python = CodePages.get_encoding(name).get("python_encode")
    if python:
        codec = codecs.lookup(python)
        return lambda byte: bytes([byte]).decode(codec.name, errors="replace")
    from escpos.magicencode import Encoder

    table = Encoder._get_codepage_char_list(name)
    return lambda byte: chr(byte) if byte < 0x80 else table[byte - 0x80]


def extract_lines(raw: bytes, profile: str = "default") -> list[tuple[str, int]]:
    """Printed text lines with their width multiplier (2 under ``ESC !`` double width), decoded
    through the code page each ``ESC t`` selected. Images and QR codes are skipped."""
    lines: list[tuple[str, int]] = []
    decode = _decoder(profile, 0)
    current, scale, line_scale = "", 1, 1
    for token in parse(raw):
        if isinstance(token, bytes):
            current += "".join(decode(b) for b in token)
            line_scale = max(line_scale, scale)
        elif token.name == "ESC t":
            decode = _decoder(profile, token.args[0])
        elif token.name == "ESC !":
            scale = 2 if token.args[0] & 0x20 else 1
        elif token.name == "ESC @":
            decode, scale = _decoder(profile, 0), 1
        elif token.name == "LF":
            lines.append((current, line_scale))
            current, line_scale = "", 1
    if current:
        lines.append((current, line_scale))
    return lines


def extract_text(raw: bytes, profile: str = "default") -> str:
    """All printed text, decoded through the code pages the stream selected."""
    return "\n".join(text for text, _ in extract_lines(raw, profile))


def extract_images(raw: bytes) -> list[Image.Image]:
    """Raster images (``GS v 0``) as grayscale PIL images: a set bit is a black dot."""
    images = []
    for token in parse(raw):
        if isinstance(token, Command) and token.name == "GS v 0":
            xbytes, height = struct.unpack("<HH", token.args[1:5])
            bits = Image.frombytes("1", (xbytes * 8, height), token.data)  # 1 = white in PIL
            images.append(Image.eval(bits.convert("L"), lambda v: 255 - v))
    return images


def qr_matrix(data: str) -> list[list[bool]]:
    """The module matrix (no quiet zone) qrcode builds for ``data`` at error correction M."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=0)
    qr.add_data(data)
    qr.make(fit=True)
    return [list(row) for row in qr.get_matrix()]


_FINDER = [[r in (0, 6) or c in (0, 6) or (2 <= r <= 4 and 2 <= c <= 4) for c in range(7)] for r in range(7)]  # fmt: skip


def read_qr_matrix(image: Image.Image, size: int) -> list[list[bool]] | None:
    """Find an axis-aligned, pixel-exact QR of ``size`` modules (as qrcode draws it) and sample
    its modules: comparing with ``qr_matrix(expected)`` checks the code without a decoder."""
    img = image.convert("L")
    px, (width, height) = img.load(), img.size

    def dark(x: int, y: int) -> bool:
        return px[x, y] < 128

    def sample(x0: int, y0: int, box: int, r: int, c: int) -> bool:
        return dark(x0 + c * box + box // 2, y0 + r * box + box // 2)

    def finder_at(x0: int, y0: int, box: int, r0: int, c0: int) -> bool:
        return all(
            sample(x0, y0, box, r0 + r, c0 + c) == _FINDER[r][c] for r in range(7) for c in range(7)
        )

    for y in range(height):
        x = 0
        while x < width:
            if not dark(x, y):
                x += 1
                continue
            x0 = x
            while x < width and dark(x, y):
                x += 1
            run = x - x0
            if run < 7 or run % 7:
                continue
            box = run // 7
            if x0 + size * box > width or y + size * box > height:
                continue
            if not all(finder_at(x0, y, box, *rc) for rc in ((0, 0), (0, size - 7), (size - 7, 0))):
                continue
            return [[sample(x0, y, box, r, c) for c in range(size)] for r in range(size)]
    return None


class FakePrinter:
    """A network receipt printer on 127.0.0.1 for python-escpos ``Network`` connections.

    Collects each connection's bytes in ``jobs``. With ``answer_status`` it answers DLE EOT 1/4
    like an Epson (``online``, ``paper`` = "ok" | "low" | "out"); ``die_after_status=n``
    resets the connection (RST) when more bytes arrive after the n-th answer (gone
    mid-receipt); ``read=False`` accepts but never reads (the sender's buffers fill up).
    """

    def __init__(
        self,
        answer_status: bool = True,
        online: bool = True,
        paper: str = "ok",
        die_after_status: int | None = None,
        read: bool = True,
    ) -> None:
        self.answer_status, self.online, self.paper = answer_status, online, paper
        self.die_after_status, self.read = die_after_status, read
        self.jobs: list[bytes] = []
        self.queries = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.host, self.port = self._server.getsockname()[:2]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._loop, daemon=True)
        self._accept.start()

    @property
    def entry(self) -> dict[str, object]:
        """A ``[[device]]`` entry pointing at this printer."""
        return {"driver": "escpos-network", "host": self.host, "tcp_port": self.port}

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _reply(self, n: int) -> bytes:
        if n == 1:
            return bytes([0x12 | (0 if self.online else 0x08)])
        if n == 4:
            return bytes([{"ok": 0x12, "low": 0x1E, "out": 0x72}[self.paper]])
        return bytes([0x12])

    def _serve(self, conn: socket.socket) -> None:
        buf = bytearray()
        self.jobs.append(b"")
        index = len(self.jobs) - 1
        answered = 0
        conn.settimeout(0.2)
        with conn:
            while not self._stop.is_set():
                if not self.read:
                    self._stop.wait(0.05)
                    continue
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                buf += chunk
                self.jobs[index] = bytes(buf)
                if self.die_after_status and answered >= self.die_after_status:
                    # gone mid-receipt: reset instead of a clean close
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if not self.answer_status:
                    continue
                queries = [
                    t
                    for t in parse(bytes(buf), partial=True)
                    if isinstance(t, Command) and t.name == "DLE EOT"
                ]
                for query in queries[answered:]:
                    conn.sendall(self._reply(query.args[0]))
                    answered += 1
                    self.queries += 1

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        self._accept.join(2)
        for thread in self._threads:
            thread.join(2)

    def __enter__(self) -> FakePrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
