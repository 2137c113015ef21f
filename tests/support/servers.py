"""Start real servers (rotel collector, Prometheus, Redis) on loopback ports for tests.

Each server is started as a child process on 127.0.0.1 with a free port, waited for
until it accepts connections (with a timeout), and stopped by its PID afterwards.
When the binary is missing, :func:`require_binary` skips the test and says exactly
what to install.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, host: str = LOOPBACK) -> None:
    """Block until ``host:port`` accepts a TCP connection; raise ``TimeoutError`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s") from None
            time.sleep(0.05)


def require_binary(name: str, install_hint: str, candidates: Sequence[str] = ()) -> str:
    """Path of executable ``name`` (or one of ``candidates``); skip the test with ``install_hint`` if absent."""
    for path in (*candidates, shutil.which(name)):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    pytest.skip(f"{name} not found: {install_hint}")


@dataclass
class ServerProcess:
    """A child server process with its log file; :meth:`stop` ends it by PID."""

    args: list[str]
    log_path: Path
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    def start(self, wait_port: int | None = None, timeout: float = 20.0) -> ServerProcess:
        """Start the process; wait until ``wait_port`` listens (if given)."""
        self._log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.args,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if wait_port is not None:
            try:
                wait_for_port(wait_port, timeout)
            except TimeoutError:
                self.stop()
                raise TimeoutError(f"{self.args[0]} did not listen on {wait_port}; log:\n{self.log()}") from None
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        """Everything the server printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by PID, then SIGKILL after ``timeout``."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.kill(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()
