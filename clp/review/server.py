"""A local Label Studio server for ``clp review`` (``make labelstudio``) and for the tests (tests/review).

Runs ``label-studio start`` from its own virtualenv (``.venv-labelstudio``: the server pins its own Django stack)
on 127.0.0.1, SQLite in ``data_dir``, with one user and a legacy API token created at the first start. What the
environment variables mean is read from the server's own code (label_studio 1.23: ``server.py`` ``_create_user``
reads ``LABEL_STUDIO_USERNAME`` / ``_PASSWORD`` / ``_USER_TOKEN`` through ``core.utils.params.get_env``;
``core/settings/base.py`` reads ``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN``, ``LOCAL_FILES_SERVING_ENABLED``,
``LOCAL_FILES_DOCUMENT_ROOT``; ``io_storages/localfiles/views.py`` serves ``/data/local-files/?d=<path relative to
the document root>`` only under a project's Local Files storage) and its docs (labelstud.io/guide/start,
/guide/storage "Local storage", /guide/access_tokens "Legacy Token": ``Authorization: Token <token>``).

Local files are served from ``document_root``: offline, the images stay where ``clp demo`` wrote them and
Label Studio serves them to the reviewer's browser (docs/review.md says why not data URLs).

``python -m clp.review.server`` runs one in the foreground (the Makefile's ``labelstudio`` target).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXECUTABLE = REPO_ROOT / ".venv-labelstudio" / "bin" / "label-studio"
EXECUTABLE_ENV = "CLP_LABEL_STUDIO"  # another label-studio executable
CREDENTIALS_FILE = "clp-credentials.json"


class ServerError(RuntimeError):
    """The local Label Studio could not be started or did not become healthy."""


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def executable() -> Path:
    """The ``label-studio`` executable: ``$CLP_LABEL_STUDIO``, else the repository's ``.venv-labelstudio``."""
    path = Path(os.environ.get(EXECUTABLE_ENV) or DEFAULT_EXECUTABLE)
    if not path.is_file():
        raise ServerError(
            f"label-studio not found at {path}: run `make .venv-labelstudio/.installed` "
            f"(or set {EXECUTABLE_ENV} to a label-studio executable)"
        )
    return path


@dataclass(frozen=True)
class Credentials:
    """The user the server creates at its first start, and its legacy API token."""

    username: str
    password: str
    token: str

    @classmethod
    def generate(cls, username: str = "reviewer@localhost") -> Credentials:
        return cls(username=username, password=secrets.token_urlsafe(16), token=secrets.token_hex(20))

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> Credentials:
        """The credentials of ``data_dir`` (made and saved, readable by the owner only, on first use): the server
        creates its user once, so later starts must present the same ones."""
        path = data_dir / CREDENTIALS_FILE
        if path.is_file():
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        credentials = cls.generate()
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            json.dump(credentials.__dict__, out)
        return credentials


@dataclass
class LocalLabelStudio:
    """One ``label-studio start`` process (its own process group), SQLite in ``data_dir``."""

    data_dir: Path
    document_root: Path
    credentials: Credentials
    port: int = field(default_factory=free_port)
    host: str = "127.0.0.1"
    log_path: Path | None = None
    program: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def environment(self) -> dict[str, str]:
        """The process environment: the caller's, plus the user, token, local files, and nothing sent out."""
        return {
            **os.environ,
            "LABEL_STUDIO_USERNAME": self.credentials.username,
            "LABEL_STUDIO_PASSWORD": self.credentials.password,
            "LABEL_STUDIO_USER_TOKEN": self.credentials.token,
            # The token above is a legacy token; 1.23 creates organizations with legacy tokens off unless asked.
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LOCAL_FILES_SERVING_ENABLED": "true",
            "LOCAL_FILES_DOCUMENT_ROOT": str(self.document_root.resolve()),
            # No calls home: the version check asks PyPI, analytics and Sentry report to their services.
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
        }

    def command(self) -> list[str]:
        return [
            str(self.program or executable()),
            "start",
            "--no-browser",
            "--internal-host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir.resolve()),
        ]

    def start(self) -> Self:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = self.command()
        log_path = self.log_path or self.data_dir / "server.log"
        self._log = log_path.open("ab")
        self._process = subprocess.Popen(
            command,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends the server and whatever it started
        )
        return self

    def wait_healthy(self, timeout: float = 240.0) -> None:
        """Until ``GET /health`` answers 200 (a first start migrates a fresh SQLite database: ~40 s on 2 cores)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise ServerError(f"label-studio exited with status {self._process.returncode}: {self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise ServerError(f"Label Studio not healthy at {self.url} after {timeout:.0f} s: {self._tail()}")

    def _tail(self, lines: int = 20) -> str:
        path = self.log_path or self.data_dir / "server.log"
        try:
            return " | ".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``grace`` seconds."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            group = os.getpgid(process.pid)
            os.killpg(group, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                process.wait(grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        self.start()
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """Run a local Label Studio in the foreground until interrupted; print how ``clp review`` reaches it."""
    parser = argparse.ArgumentParser(prog="python -m clp.review.server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (default: 8080)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT / "build" / "labelstudio",
        help="Label Studio's SQLite database, media and saved token (default: build/labelstudio)",
    )
    parser.add_argument(
        "--document-root",
        type=Path,
        default=Path.cwd(),
        help="served local files must lie under it (default: the current directory)",
    )
    args = parser.parse_args(argv)
    # The server runs in its own session (out of reach of the terminal's Ctrl-C and of a kill of this process):
    # SIGTERM here, like Ctrl-C, leaves the block below, which stops it.
    previous = signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(0))
    try:
        return _serve(args.port, args.data_dir, args.document_root)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(port: int, data_dir: Path, document_root: Path) -> int:
    server = LocalLabelStudio(
        data_dir=data_dir, document_root=document_root, credentials=Credentials.for_data_dir(data_dir), port=port
    )
    try:
        with server:
            print(
                f"Label Studio is up at {server.url} (user {server.credentials.username}, password in "
                f"{data_dir / CREDENTIALS_FILE}). For clp review, in another shell:\n"
                f"  export LABEL_STUDIO_URL={server.url} LABEL_STUDIO_API_KEY={server.credentials.token} "
                f"LOCAL_FILES_DOCUMENT_ROOT={document_root.resolve()}\n"
                "Stop it with Ctrl-C.",
                flush=True,
            )
            while server.running:
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the Makefile's labelstudio target
    sys.exit(main())
