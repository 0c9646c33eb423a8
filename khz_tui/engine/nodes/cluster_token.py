"""The cluster's join token as a control plane knows it. It travels only inside
/etc/rancher/k3s/config.yaml (written 0600 over SFTP) and is registered with the EventBus, so no event
can show it."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from khz_tui.engine.bus import EventBus
from khz_tui.engine.nodes.k3s_config import CONFIG_PATH
from khz_tui.engine.nodes.session import NodeSession

NODE_TOKEN_PATH = "/var/lib/rancher/k3s/server/node-token"


@dataclass(frozen=True)
class TokenState:
    """What a control plane says about the cluster token."""

    token: str | None
    started: bool
    """k3s wrote its node-token: this server has been part of a running cluster (it holds cluster
    data), unlike a node where only an installer was started with a token in config.yaml."""


async def read_token_state(session: NodeSession) -> TokenState:
    """The cluster's join token as this server knows it (None when no run ever installed k3s there).
    A resumed run must use this one: a freshly minted token would not let new nodes join.

    The node-token file exists once k3s has started. Before that, a config.yaml with a `token`
    means an earlier run already started the installer with it (and may have been killed while
    k3s was still starting): k3s will come up with that token, so it is the one to keep."""
    text = await session.read_file(NODE_TOKEN_PATH)
    token = text.strip() if text else ""
    started = bool(token)
    if not token:
        config = await session.read_file(CONFIG_PATH)
        try:
            data = yaml.safe_load(config) if config else None
        except yaml.YAMLError:
            data = None
        value = data.get("token") if isinstance(data, dict) else None
        token = value.strip() if isinstance(value, str) else ""
    if not token:
        return TokenState(None, False)
    register_token(session.bus, token)
    return TokenState(token, started)


async def read_cluster_token(session: NodeSession) -> str | None:
    """The join token from `read_token_state`, whether k3s has started or only its installer."""
    return (await read_token_state(session)).token


def register_token(bus: EventBus, token: str) -> None:
    """Keep the token, and the password inside it, out of every event."""
    bus.add_secret(token)
    # A full token is K10<CA hash>::<user>:<password>; the password alone is a secret too.
    if "::" in token:
        bus.add_secret(token.split("::", 1)[1])
        bus.add_secret(token.rsplit(":", 1)[-1])
