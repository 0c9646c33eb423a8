"""`khz-tui sim serve` as a process: prints the exports, answers the API, exits 0 on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

import requests


def test_serve_prints_exports_and_stops_cleanly() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "khz_tui", "sim", "serve", "--time-scale", "0.01", "--token", "abc"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        endpoint_line = proc.stdout.readline().strip()
        token_line = proc.stdout.readline().strip()
        assert endpoint_line.startswith("export HCLOUD_ENDPOINT=http://127.0.0.1:")
        assert token_line == "export HCLOUD_TOKEN=abc"
        endpoint = endpoint_line.split("=", 1)[1]
        reply = requests.get(f"{endpoint}/server_types", headers={"Authorization": "Bearer abc"}, timeout=5)
        assert reply.status_code == 200 and reply.json()["server_types"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
