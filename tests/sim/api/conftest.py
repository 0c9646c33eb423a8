"""Builders shared by the API tests, as fixtures (test modules do not import each other)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hcloud import Client
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkSubnet
from hcloud.server_types.domain import ServerType


def create_network(client: Client, name: str = "net") -> Any:
    """A 10.0.0.0/16 network with one eu-central subnet 10.0.1.0/24."""
    subnet = NetworkSubnet(type="cloud", ip_range="10.0.1.0/24", network_zone="eu-central")
    return client.networks.create(name=name, ip_range="10.0.0.0/16", subnets=[subnet])


def create_server(client: Client, name: str, **kwargs: Any) -> Any:
    """A cx23 in nbg1, waited until running; returns the reloaded server."""
    response = client.servers.create(
        name=name, server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"), location=Location(name="nbg1"), **kwargs
    )
    response.action.wait_until_finished()
    for action in response.next_actions:
        action.wait_until_finished()
    return client.servers.get_by_id(response.server.id)


@pytest.fixture
def make_network() -> Callable[..., Any]:
    return create_network


@pytest.fixture
def make_server() -> Callable[..., Any]:
    return create_server
