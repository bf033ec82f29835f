"""An ASGI app served for real in the tests: uvicorn on a loopback port, in a thread, until
the block ends (the console's browser tests, the concurrent reads, the client kit, the
witnesses)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import uvicorn

JOIN_TIMEOUT = 30


@contextmanager
def served(
    app: Any,
    *,
    port: int = 0,
    lifespan: Literal["on", "off"] = "on",
    what: str = "the server",
) -> Iterator[str]:
    """Serve ``app`` on ``port`` of 127.0.0.1 (0: a free one; a port used before can be taken
    again) once it has started; yields its base URL. Stopped, and its socket closed, when the
    block ends. ``what`` names it in the failures."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan=lifespan, access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), f"{what} stopped at start"
            threading.Event().wait(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(JOIN_TIMEOUT)
        sock.close()
    assert not thread.is_alive(), f"{what} did not stop"


@contextmanager
def not_http() -> Iterator[str]:
    """A loopback server that answers one connection with an SSH banner, not HTTP (a wrong
    port): its ``http://127.0.0.1:PORT`` until the block ends."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()

        def banner() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\n\r\n")

        thread = threading.Thread(target=banner, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
        thread.join(JOIN_TIMEOUT)
