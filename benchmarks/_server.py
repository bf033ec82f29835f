"""The API server of the HTTP benchmarks: a uvicorn subprocess on a free loopback port, waited
for until ``/health`` answers, stopped when the block ends. Shared by ``api_reads.py`` and
``guard.py`` (run as scripts, so this folder is on ``sys.path``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import httpx

__all__ = ["free_port", "server"]


def free_port() -> int:
    """A loopback port nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def server(command: Sequence[str], port: int, *, timeout: float) -> Iterator[tuple[str, int]]:
    """Run ``command`` (a server on ``port``) until the block ends; yields its base URL and
    process id once ``/health`` answers 200. Exits the benchmark if it does not within
    ``timeout`` seconds or dies first."""
    proc = subprocess.Popen(list(command))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("the API server did not start")
            time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
