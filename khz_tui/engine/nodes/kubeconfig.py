"""The cluster's kubeconfig: fetched from the first server, pointed at the API, named after the cluster.

k3s writes /etc/rancher/k3s/k3s.yaml with `server: https://127.0.0.1:6443` and every name set to
`default`. Renamed after the cluster, several clusters can live side by side in one kubeconfig file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from khz_tui.engine.bus import EventBus
from khz_tui.engine.cluster_files import write_private_file
from khz_tui.engine.nodes.session import NodeSession

KUBECONFIG_PATH = "/etc/rancher/k3s/k3s.yaml"


async def fetch_kubeconfig(session: NodeSession) -> str:
    """The admin kubeconfig k3s wrote on this server (it holds a client key: never logged)."""
    text = await session.read_file(KUBECONFIG_PATH)
    if not text:
        raise session.failure(
            f"{KUBECONFIG_PATH} does not exist on {session.node} ({session.endpoint}); k3s has not finished starting",
            command=f"read {KUBECONFIG_PATH}",
        )
    _register_secrets(session.bus, text)
    return text


def _register_secrets(bus: EventBus, text: str) -> None:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        return
    for user in data.get("users") or []:
        creds = (user or {}).get("user") or {}
        for key in ("client-key-data", "token", "password"):
            if isinstance(creds.get(key), str):
                bus.add_secret(creds[key])


class KubeconfigError(ValueError):
    """The kubeconfig text is not one we can rewrite or merge."""


def _load(text: str, what: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"{what} is not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise KubeconfigError(f"{what} is not a kubeconfig (expected a mapping at the top)")
    return data


def rewrite_kubeconfig(raw: str, cluster: str, server_url: str) -> str:
    """Point k3s' kubeconfig at `server_url` (the API load balancer, or the first server's public
    address) and name its cluster, user and context `cluster`, made current."""
    data = _load(raw, "the kubeconfig from the server")
    clusters, users, contexts = data.get("clusters") or [], data.get("users") or [], data.get("contexts") or []
    if len(clusters) != 1 or len(users) != 1:
        raise KubeconfigError(
            f"the server's kubeconfig has {len(clusters)} clusters and {len(users)} users; k3s writes exactly one of each"
        )
    clusters[0]["name"] = cluster
    clusters[0].setdefault("cluster", {})["server"] = server_url
    users[0]["name"] = cluster
    data["clusters"], data["users"] = clusters, users
    data["contexts"] = [{"name": cluster, "context": {"cluster": cluster, "user": cluster}}]
    if contexts and isinstance(contexts[0].get("context"), dict) and contexts[0]["context"].get("namespace"):
        data["contexts"][0]["context"]["namespace"] = contexts[0]["context"]["namespace"]
    data["current-context"] = cluster
    data.setdefault("apiVersion", "v1")
    data.setdefault("kind", "Config")
    data.setdefault("preferences", {})
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)


def write_kubeconfig(text: str, path: Path) -> None:
    """Write `text` to `path` atomically, 0600, creating parent directories (0700) as needed."""
    path = Path(path).expanduser()
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=0o700)
    write_private_file(path, text)


def default_merge_target() -> Path:
    """Where `kubectl` reads and writes by default: the first file of $KUBECONFIG, else ~/.kube/config."""
    env = os.environ.get("KUBECONFIG", "")
    for entry in env.split(os.pathsep):
        if entry:
            return Path(entry).expanduser()
    return Path.home() / ".kube" / "config"


def _replace(entries: list[Any], new: list[dict[str, Any]]) -> list[Any]:
    names = {e.get("name") for e in new}
    return [e for e in entries if isinstance(e, dict) and e.get("name") not in names] + new


def merge_kubeconfig(text: str, target: Path) -> None:
    """Merge the cluster, user and context of `text` into the kubeconfig at `target`: entries of the
    same name are replaced, every other context is kept, and the new context becomes current (as
    kind and k3d do). The result is written 0600, atomically."""
    target = Path(target).expanduser()
    new = _load(text, "the cluster's kubeconfig")
    existing = _load(target.read_text(encoding="utf-8"), str(target)) if target.exists() else {}
    merged = dict(existing) if existing else {"apiVersion": "v1", "kind": "Config", "preferences": {}}
    for key in ("clusters", "users", "contexts"):
        merged[key] = _replace(list(existing.get(key) or []), list(new.get(key) or []))
    if new.get("current-context"):
        merged["current-context"] = new["current-context"]
    write_kubeconfig(yaml.safe_dump(merged, sort_keys=False, default_flow_style=False), target)
