"""Reading an installer invocation the way install.sh and k3s do: env vars, INSTALL_K3S_EXEC,
trailing flags and `/etc/rancher/k3s/config.yaml` merged into one set of settings."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

CHANNELS = {"stable": "v1.33.6+k3s1", "latest": "v1.34.2+k3s1", "testing": "v1.35.0-rc1+k3s1"}
"""Where the simulated update channels point when a simulator starts (`SimNodes.publish_release` moves one)."""
_VERSION = re.compile(r"^v\d+\.\d+\.\d+(-rc\d+)?\+k3s\d+$")
_MINOR_CHANNEL = re.compile(r"^v(\d+)\.(\d+)$")

# Flags that take no value; every other `--flag` takes one.
_BOOLEAN_FLAGS = {
    "cluster-init", "disable-cloud-controller", "disable-network-policy", "disable-kube-proxy",
    "secrets-encryption", "disable-helm-controller", "embedded-registry", "protect-kernel-defaults",
    "selinux", "prefer-bundled-bin", "rootless", "docker", "disable-scheduler", "disable-etcd",
    "disable-apiserver", "disable-controller-manager", "etcd-expose-metrics", "debug",
    "etcd-disable-snapshots", "write-kubeconfig-group",
}
# Flags that may be repeated (values accumulate), also lists in config.yaml.
_LIST_FLAGS = {
    "node-label", "node-taint", "tls-san", "kubelet-arg", "kube-apiserver-arg", "disable",
    "kube-controller-manager-arg", "kube-scheduler-arg", "kube-proxy-arg", "etcd-arg",
    "kube-cloud-controller-manager-arg", "node-ip", "node-external-ip", "advertise-address",
}


class InstallError(Exception):
    """The invocation cannot work; the message is what the installer or k3s would print."""


@dataclass
class InstallRequest:
    """What one installer run asks for."""

    role: str
    """server or agent."""
    version: str
    settings: dict[str, Any] = field(default_factory=dict)
    """Merged k3s flags (config.yaml, then INSTALL_K3S_EXEC, then trailing flags)."""

    def value(self, name: str) -> Any:
        """A scalar setting (the last one given when repeated)."""
        v = self.settings.get(name)
        return v[-1] if isinstance(v, list) and v else v

    def values(self, name: str) -> list[str]:
        """A list setting (a scalar becomes a one-item list; comma lists are split)."""
        v = self.settings.get(name)
        if v is None:
            return []
        items = v if isinstance(v, list) else [v]
        out: list[str] = []
        for item in items:
            out += [p.strip() for p in str(item).split(",") if p.strip()] if name in (
                "disable", "tls-san", "node-ip", "node-external-ip") else [str(item)]
        return out

    @property
    def token(self) -> str | None:
        """The join or cluster token."""
        t = self.value("token")
        return str(t) if t is not None else None

    @property
    def server_url(self) -> str | None:
        """The `server` URL a joining node names."""
        s = self.value("server")
        return str(s) if s else None


def parse_flags(words: list[str], into: dict[str, Any]) -> None:
    """Fold `--flag value`, `--flag=value` and boolean `--flag` words into settings."""
    it = iter(words)
    for word in it:
        if not word.startswith("--"):
            raise InstallError(f"Incorrect Usage: unexpected argument {word!r}")
        name, sep, value = word[2:].partition("=")
        if not sep:
            if name in _BOOLEAN_FLAGS:
                value = "true"
            else:
                nxt = next(it, None)
                if nxt is None:
                    raise InstallError(f"Incorrect Usage: flag needs an argument: --{name}")
                value = nxt
        parsed: Any = value == "true" if name in _BOOLEAN_FLAGS and value in ("true", "false") else value
        if name in _LIST_FLAGS:
            existing = into.get(name)
            into[name] = (existing if isinstance(existing, list) else
                          [] if existing is None else [existing]) + [parsed]
        else:
            into[name] = parsed


def read_config(text: str | None) -> dict[str, Any]:
    """`/etc/rancher/k3s/config.yaml`: a mapping of flag names; anything else stops k3s."""
    if text is None or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InstallError(f"failed to parse /etc/rancher/k3s/config.yaml: {exc}") from None
    if not isinstance(data, dict):
        raise InstallError("/etc/rancher/k3s/config.yaml: expected a mapping of flags")
    return {str(k).rstrip("+"): v for k, v in data.items()}


def resolve_version(env: dict[str, str], channels: dict[str, str]) -> str:
    """The release from INSTALL_K3S_VERSION or INSTALL_K3S_CHANNEL (default: stable), the named channels
    pointing where `channels` says."""
    version = env.get("INSTALL_K3S_VERSION")
    if version:
        if not _VERSION.match(version):
            raise InstallError(f"[ERROR]  Download failed: release {version} does not exist")
        return version
    channel = env.get("INSTALL_K3S_CHANNEL", "stable")
    if channel in channels:
        return channels[channel]
    m = _MINOR_CHANNEL.match(channel)
    if m:
        return f"v{m.group(1)}.{m.group(2)}.9+k3s1"
    raise InstallError(f"[ERROR]  Failed to get channel {channel}: no such channel")


def build_request(env: dict[str, str], args: list[str], config_text: str | None,
                  channels: dict[str, str]) -> InstallRequest:
    """Merge the installer's environment, arguments and config file into one request."""
    version = resolve_version(env, channels)
    exec_words = shlex.split(env.get("INSTALL_K3S_EXEC", ""))
    words = exec_words + list(args)
    role = None
    if words and words[0] in ("server", "agent"):
        role, words = words[0], words[1:]
    settings: dict[str, Any] = read_config(config_text)
    if env.get("K3S_TOKEN"):
        settings["token"] = env["K3S_TOKEN"]
    if env.get("K3S_URL"):
        settings["server"] = env["K3S_URL"]
    if env.get("K3S_NODE_NAME"):
        settings["node-name"] = env["K3S_NODE_NAME"]
    parse_flags(words, settings)
    if role is None:
        role = "agent" if env.get("K3S_URL") else "server"
    if role == "agent" and not settings.get("server"):
        raise InstallError("[ERROR]  Defaulted k3s exec command to 'agent' but K3S_URL is not set")
    if role == "agent" and not settings.get("token"):
        raise InstallError("[ERROR]  Defaulted k3s exec command to 'agent' because K3S_URL is defined, "
                           "but K3S_TOKEN or K3S_TOKEN_FILE is not defined.")
    return InstallRequest(role=role, version=version, settings=settings)
