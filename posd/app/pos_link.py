"""Starts the ``[pos_link]`` listener (DESIGN §7, §12): a second uvicorn server in the daemon.

Its bearer token is ``[pos_link] token`` when set; else one is generated at the first start and
kept in ``<state_dir>/pos_link.token`` (mode 0600, like the key file: the owner reads it with
``sudo cat /var/lib/posd/pos_link.token`` and enters it in the POS). It is never printed or
logged. An empty ``allow`` list refuses every address (a warning says so).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

from posd.api.port import TillService
from posd.api.pos_link import create_pos_link_app
from posd.api.serve import ServerThread
from posd.config.settings import Config
from posd.errors import Internal

log = logging.getLogger("posd.app.pos_link")
TOKEN_FILE = "pos_link.token"


class PosLinkError(Internal, RuntimeError):
    """The POS listener cannot start (address taken, not on this machine): exit 2."""

    code = "startup_failed"
    exit_code = 2


def token_path(config: Config) -> Path:
    return config.state_dir / TOKEN_FILE


def link_token(config: Config) -> str:
    """``[pos_link] token``, else the kept one, else a new one written 0600 beside the database."""
    if config.pos_link.token:
        return config.pos_link.token
    path = token_path(config)
    if path.exists():
        token = path.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(24)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    log.info("POS link: generated its token in %s", path)
    return token


def _address(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


_IP_FREEBIND = 15  # Linux <linux/in.h>; Python has the name from 3.12 (it also binds IPv6)


def _bind(sock: socket.socket, host: str, port: int) -> None:
    """Bind; an address this machine does not have *yet* (DHCP after boot: the unit does not
    wait for network-online.target) is bound anyway (IP_FREEBIND) and serves once it comes."""
    try:
        sock.bind((host, port))
    except OSError as exc:
        if exc.errno != errno.EADDRNOTAVAIL or not sys.platform.startswith("linux"):
            raise
        sock.setsockopt(socket.SOL_IP, getattr(socket, "IP_FREEBIND", _IP_FREEBIND), 1)
        sock.bind((host, port))
        log.warning(
            "POS link: %s is not an address of this machine yet; listening for when it is "
            "(check [pos_link] listen if the POS cannot connect)",
            host,
        )


def start_pos_link(config: Config, till: TillService) -> ServerThread:
    """Bind ``[pos_link] listen``, serve the restricted app on a thread (its ``port``: the bound
    one, for a listen port of 0)."""
    link = config.pos_link
    host, port = _address(link.listen)
    if not link.allow:
        log.warning("POS link: [pos_link] allow is empty, so every address is refused")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    if host == "localhost":
        host, family = "127.0.0.1", socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        _bind(sock, host, port)
    except OSError as exc:
        sock.close()
        raise PosLinkError(
            f"[pos_link] listen {link.listen}: cannot listen: {exc.strerror}"
        ) from None
    app = create_pos_link_app(till, link_token(config), link.allow)
    server = ServerThread(
        app,
        sock,
        "pos-link",
        proxy_headers=False,  # the allow-list checks the peer, never X-Forwarded-For
    )
    server.start()
    shown = f"[{host}]" if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address) else host
    log.info(
        "POS link listening on http://%s:%s (allow %s)", shown, server.port, ", ".join(link.allow)
    )
    return server
