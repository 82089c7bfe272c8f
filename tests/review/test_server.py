"""The local Label Studio launcher's own behaviour, with a stand-in program in place of ``label-studio`` (the real
server is started by tests/review/conftest.py): its command line and environment, the health wait, the process
group stop, the credentials kept per data directory."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from clp.review.server import Credentials, LocalLabelStudio, ServerError, free_port, main

# Answers GET /health on the --port it is given, after starting a child that would outlive a plain kill.
STAND_IN = f"""#!{sys.executable}
import http.server, subprocess, sys, os
port = int(sys.argv[sys.argv.index("--port") + 1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(os.environ["CHILD_PID_FILE"], "w").write(str(child.pid))
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers(); self.wfile.write(b"{{}}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", port), Health).serve_forever()
"""


def _program(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_starts_healthy_and_stops_with_its_whole_process_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stand-in label-studio that starts a child process
    monkeypatch.setenv("CHILD_PID_FILE", str(tmp_path / "child.pid"))
    credentials = Credentials.generate()
    server = LocalLabelStudio(
        data_dir=tmp_path / "data",
        document_root=tmp_path,
        credentials=credentials,
        program=_program(tmp_path / "label-studio", STAND_IN),
    )

    # When it is started and stopped
    with server:
        child = int((tmp_path / "child.pid").read_text())
        assert _alive(child)
        environment = server.environment()
        command = server.command()
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)

    # Then the child went with it, and the server was told its user, token, local files and to call no one
    assert not _alive(child)
    assert command[1:] == [
        "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(server.port),
        "--data-dir", str((tmp_path / "data").resolve()),
    ]  # fmt: skip
    assert environment["LABEL_STUDIO_USER_TOKEN"] == credentials.token
    assert environment["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert environment["LOCAL_FILES_SERVING_ENABLED"] == "true"
    assert environment["LOCAL_FILES_DOCUMENT_ROOT"] == str(tmp_path.resolve())
    assert environment["SENTRY_DSN"] == ""
    assert environment["LATEST_VERSION_CHECK"] == "false"


def test_a_server_that_exits_fails_the_wait_with_its_log(tmp_path: Path) -> None:
    program = _program(
        tmp_path / "label-studio", f"#!{sys.executable}\nprint('no database here')\nraise SystemExit(3)\n"
    )
    server = LocalLabelStudio(
        data_dir=tmp_path, document_root=tmp_path, credentials=Credentials.generate(), program=program
    )
    with pytest.raises(ServerError, match=r"exited with status 3: .*no database here"):
        server.__enter__()


def test_a_missing_executable_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLP_LABEL_STUDIO", str(tmp_path / "nowhere"))
    server = LocalLabelStudio(data_dir=tmp_path, document_root=tmp_path, credentials=Credentials.generate())
    with pytest.raises(ServerError, match=r"make \.venv-labelstudio/\.installed"):
        server.command()


def test_credentials_are_made_once_per_data_directory_and_kept_private(tmp_path: Path) -> None:
    first = Credentials.for_data_dir(tmp_path / "data")
    again = Credentials.for_data_dir(tmp_path / "data")
    other = Credentials.for_data_dir(tmp_path / "other")
    assert first == again
    assert first.token != other.token
    assert stat.S_IMODE((tmp_path / "data" / "clp-credentials.json").stat().st_mode) == 0o600


# Serves /health for a moment, then exits (as a server stopped from elsewhere would).
BRIEF = f"""#!{sys.executable}
import http.server, sys, threading
port = int(sys.argv[sys.argv.index("--port") + 1])
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", port), Health)
threading.Timer(1.5, server.shutdown).start()
server.serve_forever()
"""


def test_make_labelstudio_prints_what_to_export_and_ends_with_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLP_LABEL_STUDIO", str(_program(tmp_path / "label-studio", BRIEF)))
    data = tmp_path / "data"
    assert main(["--port", str(free_port()), "--data-dir", str(data), "--document-root", str(tmp_path)]) == 0
    token = Credentials.for_data_dir(data).token
    printed = capsys.readouterr().out
    assert f"LABEL_STUDIO_API_KEY={token}" in printed
    assert f"LOCAL_FILES_DOCUMENT_ROOT={tmp_path.resolve()}" in printed


def test_make_labelstudio_fails_when_the_server_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "CLP_LABEL_STUDIO", str(_program(tmp_path / "label-studio", f"#!{sys.executable}\nraise SystemExit(2)\n"))
    )
    assert main(["--port", str(free_port()), "--data-dir", str(tmp_path / "d"), "--document-root", str(tmp_path)]) == 1
    assert "exited with status 2" in capsys.readouterr().err
