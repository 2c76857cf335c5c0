"""One way to run an ASGI app under uvicorn on its own thread: the till's local API, the POS link
and the gateway. The owner keeps its signals (uvicorn's handlers are off), learns whether the
server came up, and on stop lets requests in flight finish — within a bound — before it closes
the services they use (a pay that has begun still answers; nothing touches a closed database).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

log = logging.getLogger("posd.api.serve")
GRACE_S = 5.0  # open connections get this long to finish once a stop begins


class ServerThread:
    """A uvicorn server on a bound socket, run on a thread named ``name``."""

    def __init__(
        self, app: Any, sock: socket.socket, name: str, *, daemon: bool = True, **options: Any
    ) -> None:
        options.setdefault("timeout_graceful_shutdown", GRACE_S)
        self.name, self.sock = name, sock
        self.server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", **options)
        )
        self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name=name, daemon=daemon
        )

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def start(self, timeout: float = 10.0) -> bool:
        """Start the thread; True once the server listens (False if it died or took too long)."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return bool(self.server.started)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout: float = GRACE_S + 2.0) -> None:
        """Stop accepting, let what is in flight finish (bounded), and wait for the thread."""
        self.server.should_exit = True
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout)
            if self.thread.is_alive():
                log.warning("%s server still stopping after %.0f s; going on", self.name, timeout)
