"""Issue 10's acceptance check, end to end through the public commands: a cluster built by
`khz-tui --apply` on a separate `khz-tui sim serve`, then the real `kubectl` with the kubeconfig
khz-tui wrote, certificate verification on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.plans import plan_data

from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan

RUN_TIMEOUT = 180


def _serve() -> tuple[subprocess.Popen, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "khz_tui", "sim", "serve", "--time-scale", "0.02"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    endpoint = proc.stdout.readline().strip().split("=", 1)[1]
    token = proc.stdout.readline().strip().split("=", 1)[1]
    return proc, endpoint, token


def test_kubectl_reads_a_cluster_built_on_sim_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    ssh_keys: tuple[Path, Path], kubectl_path: str) -> None:
    for var in ("HCLOUD_CONTEXT", "HCLOUD_CONFIG"):  # HOME is isolated already (conftest); the token is ours
        monkeypatch.delenv(var, raising=False)
    plan_file = tmp_path / "served.toml"
    save_plan(ClusterPlan.model_validate(plan_data("served", ssh_keys, cp=1, workers=1, lb=True)), plan_file)
    kubeconfig = tmp_path / "served.yaml"
    serve, endpoint, token = _serve()
    try:
        env = {**os.environ, "HCLOUD_TOKEN": token}
        applied = subprocess.run(
            [sys.executable, "-m", "khz_tui", "--apply", str(plan_file), "--endpoint", endpoint, "--yes",
             "--kubeconfig", str(kubeconfig)],
            capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT, stdin=subprocess.DEVNULL)
        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
        assert "insecure-skip-tls-verify" not in kubeconfig.read_text()
        got = subprocess.run([kubectl_path, "--kubeconfig", str(kubeconfig), "--request-timeout=20s",
                              "get", "nodes", "-o", "json"], capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        nodes = {n["metadata"]["name"]: n for n in json.loads(got.stdout)["items"]}
        assert sorted(nodes) == ["served-cp-1", "served-default-1"]
        for name, node in nodes.items():
            ready = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
            assert ready["status"] == "True", name
    finally:
        serve.terminate()
        serve.wait(timeout=30)
        serve.stdout.close()
        serve.stderr.close()
