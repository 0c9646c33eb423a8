"""Kubeconfig rewrite, write and merge, judged by the real kubectl."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess

import pytest
import yaml

from khz_tui.engine.nodes.kubeconfig import (
    KubeconfigError,
    default_merge_target,
    merge_kubeconfig,
    rewrite_kubeconfig,
    write_kubeconfig,
)

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

K3S_YAML = """apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: TFMwdExTMUNSVWRKVGlCRFJWSlVTVVpKUTBGVVJTMHRMUzB0Q2c9PQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
"""


def kubectl(path, *args):
    result = subprocess.run(
        ["kubectl", "config", *args, "--kubeconfig", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_rewrite_points_at_the_api_and_renames():
    text = rewrite_kubeconfig(K3S_YAML, "demo", "https://198.51.100.7:6443")
    data = yaml.safe_load(text)
    assert data["clusters"][0]["name"] == "demo"
    assert data["clusters"][0]["cluster"]["server"] == "https://198.51.100.7:6443"
    assert data["clusters"][0]["cluster"]["certificate-authority-data"].startswith("TFMw")
    assert data["users"][0]["name"] == "demo" and data["users"][0]["user"]["client-key-data"] == "a2V5"
    assert data["contexts"] == [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}]
    assert data["current-context"] == "demo"
    assert "default" not in text.replace("preferences", "")


def test_rewrite_refuses_garbage():
    with pytest.raises(KubeconfigError):
        rewrite_kubeconfig("- just\n- a list\n", "demo", "https://x:6443")
    with pytest.raises(KubeconfigError):
        rewrite_kubeconfig("apiVersion: v1\nclusters: []\n", "demo", "https://x:6443")


@needs_kubectl
def test_written_kubeconfig_is_private_and_kubectl_reads_it(tmp_path):
    path = tmp_path / "state" / "demo" / "kubeconfig"
    write_kubeconfig(rewrite_kubeconfig(K3S_YAML, "demo", "https://198.51.100.7:6443"), path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    view = json.loads(kubectl(path, "view", "-o", "json"))
    assert view["current-context"] == "demo"
    assert view["clusters"][0]["cluster"]["server"] == "https://198.51.100.7:6443"
    assert kubectl(path, "get-contexts", "-o", "name").split() == ["demo"]


@needs_kubectl
def test_merge_keeps_other_contexts_and_replaces_our_own(tmp_path):
    target = tmp_path / ".kube" / "config"
    merge_kubeconfig(rewrite_kubeconfig(K3S_YAML, "other", "https://192.0.2.1:6443"), target)
    merge_kubeconfig(rewrite_kubeconfig(K3S_YAML, "demo", "https://198.51.100.7:6443"), target)
    # A second apply with a new address replaces the entries, it does not duplicate them.
    merge_kubeconfig(rewrite_kubeconfig(K3S_YAML, "demo", "https://198.51.100.8:6443"), target)
    assert sorted(kubectl(target, "get-contexts", "-o", "name").split()) == ["demo", "other"]
    assert kubectl(target, "current-context").strip() == "demo"
    view = json.loads(kubectl(target, "view", "-o", "json", "--raw"))
    servers = {c["name"]: c["cluster"]["server"] for c in view["clusters"]}
    assert servers == {"other": "https://192.0.2.1:6443", "demo": "https://198.51.100.8:6443"}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_merge_target_follows_kubeconfig_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    assert default_merge_target() == tmp_path / ".kube" / "config"
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path}/a:{tmp_path}/b")
    assert default_merge_target() == tmp_path / "a"
