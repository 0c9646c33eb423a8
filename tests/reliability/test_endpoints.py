"""Bad API endpoints fail fast, exit 2 and name the endpoint and what to check.

Each case goes through the public CLI (`khz-tui --apply/--dry-run PLAN --endpoint URL`) against a
loopback stand-in for a wrong endpoint: a socket that accepts and never answers, a closed port, a host
name under the reserved `.invalid` TLD (RFC 6761; its resolution is answered in this process, so no
query leaves the machine) and a tiny HTTP server that answers HTML. A real simulator is the control:
it speaks the API, so its run goes through.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from reliability_helpers import plan_data

from khz_tui import cli
from khz_tui.engine.cloud import client as cloud_client
from khz_tui.sim.simulator import SimulatorThread, recording_node_host

ROOT = Path(__file__).resolve().parents[2]
#: Generous: the engine's own timeouts bound these runs; this only stops a hung test.
PROCESS_TIMEOUT = 120


def write_plan(tmp_path: Path, ssh_keys, name: str = "ep") -> Path:
    path = tmp_path / f"{name}.toml"
    data = {"schema_version": 1, **plan_data(name, ssh_keys, cp=1, workers=0, lb=False)}
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """A listening socket that is never accepted from: the kernel completes the TCP handshake, and
    no byte ever comes back."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"


@pytest.fixture
def closed_endpoint() -> str:
    """A loopback port nothing listens on (bound once to learn a free one, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _HtmlHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><html><body><h1>File not found</h1></body></html>"
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def html_endpoint() -> Iterator[str]:
    """A web server answering every request with an HTML page, like a mistyped URL to a website."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def local_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """`.invalid` names fail to resolve inside this process, as RFC 6761 says resolvers must answer,
    so the test never depends on (or queries) a DNS server."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if isinstance(host, str) and host.rstrip(".").endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _main(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_an_endpoint_that_never_answers_fails_after_the_read_timeout(tmp_path, ssh_keys, monkeypatch, capsys,
                                                                       silent_endpoint) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    # Shrunk so the test is quick; the production value is a few seconds, not the run's whole deadline.
    monkeypatch.setattr(cloud_client, "CHECK_TIMEOUT", (2.0, 1.0))
    code, text = _main(capsys, "--apply", str(write_plan(tmp_path, ssh_keys)), "--endpoint", silent_endpoint)
    assert code == 2, text
    assert silent_endpoint in text
    assert "did not answer" in text and "--endpoint" in text


def test_a_closed_port_fails_at_once_through_a_real_process(tmp_path, ssh_keys, closed_endpoint) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HCLOUD_TOKEN": "t" * 64}
    proc = subprocess.run(
        [sys.executable, "-m", "khz_tui", "--dry-run", str(write_plan(tmp_path, ssh_keys)), "--endpoint", closed_endpoint],
        capture_output=True, text=True, env=env, timeout=PROCESS_TIMEOUT, stdin=subprocess.DEVNULL,
    )
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert closed_endpoint in text and "connection refused" in text
    assert "Traceback" not in text and "urllib3" not in text and "HTTPConnectionPool" not in text


def test_an_unresolvable_host_fails_at_once(tmp_path, ssh_keys, monkeypatch, capsys, local_resolver) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    endpoint = "http://api.khz-tui-test.invalid/v1"
    code, text = _main(capsys, "--apply", str(write_plan(tmp_path, ssh_keys)), "--endpoint", endpoint)
    assert code == 2, text
    assert endpoint in text and "cannot resolve" in text and "api.khz-tui-test.invalid" in text
    assert "HTTPConnectionPool" not in text


def test_an_endpoint_serving_html_is_not_the_hetzner_api(tmp_path, ssh_keys, monkeypatch, capsys,
                                                         html_endpoint) -> None:
    monkeypatch.setenv("HCLOUD_TOKEN", "t" * 64)
    code, text = _main(capsys, "--dry-run", str(write_plan(tmp_path, ssh_keys)), "--endpoint", html_endpoint)
    assert code == 2, text
    assert html_endpoint in text and "does not answer like the Hetzner Cloud API" in text
    assert "text/html" in text
    assert "listing volumes" not in text


def test_the_simulator_passes_the_endpoint_check(tmp_path, ssh_keys, monkeypatch, capsys) -> None:
    with SimulatorThread(time_scale=0.02, seed=3, node_host_factory=recording_node_host) as sim:
        monkeypatch.setenv("HCLOUD_TOKEN", sim.token)
        code, text = _main(capsys, "--dry-run", str(write_plan(tmp_path, ssh_keys)), "--endpoint", sim.endpoint)
        assert sim.mutating_request_count == 0
    assert code == 0, text


def test_a_refused_token_is_still_reported_as_the_token(tmp_path, ssh_keys, monkeypatch, capsys) -> None:
    """The API's JSON error envelope is the API speaking: the check passes and the token is blamed."""
    with SimulatorThread(time_scale=0.02, seed=3, node_host_factory=recording_node_host) as sim:
        monkeypatch.setenv("HCLOUD_TOKEN", "not-the-token")
        code, text = _main(capsys, "--dry-run", str(write_plan(tmp_path, ssh_keys)), "--endpoint", sim.endpoint)
    assert code == 2, text
    assert "unauthorized" in text and "does not answer like" not in text
