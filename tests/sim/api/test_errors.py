"""Every error code the emulator produces, as the pinned hcloud client raises it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncssh
import pytest
import requests
from hcloud import APIException, Client
from hcloud.actions.domain import ActionFailedException
from hcloud.images.domain import Image
from hcloud.locations.domain import Location
from hcloud.networks.domain import NetworkSubnet
from hcloud.server_types.domain import ServerType

from khz_tui.plan.catalog import snapshot_wire
from khz_tui.sim.faults import FaultProfile
from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host


def field_names(exc: pytest.ExceptionInfo[APIException]) -> set[str]:
    return {f["name"] for f in exc.value.details["fields"]}


def test_unauthorized(api_sim_thread: Simulator) -> None:
    client = Client(token="wrong", api_endpoint=api_sim_thread.endpoint)
    with pytest.raises(APIException) as exc:
        client.servers.get_all()
    assert exc.value.code == "unauthorized"
    raw = requests.get(f"{api_sim_thread.endpoint}/servers", timeout=5)
    assert raw.status_code == 401 and raw.json()["error"]["code"] == "unauthorized"


def test_not_found(api_client: Client) -> None:
    with pytest.raises(APIException) as exc:
        api_client.servers.get_by_id(424242)
    assert exc.value.code == "not_found"
    with pytest.raises(APIException) as exc:
        api_client.request("GET", "/no_such_thing")
    assert exc.value.code == "not_found"


def test_uniqueness_errors(api_client: Client, make_network: Callable[..., Any]) -> None:
    public_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    api_client.ssh_keys.create(name="one", public_key=public_key)
    with pytest.raises(APIException) as exc:
        api_client.ssh_keys.create(name="two", public_key=public_key)
    assert exc.value.code == "uniqueness_error" and field_names(exc) == {"public_key"}
    make_network(api_client, "net")
    with pytest.raises(APIException) as exc:
        make_network(api_client, "net")
    assert exc.value.code == "uniqueness_error" and field_names(exc) == {"name"}


def test_locked_while_an_action_runs(api_client: Client) -> None:
    response = api_client.servers.create(name="busy", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"))
    with pytest.raises(APIException) as exc:
        api_client.servers.power_off(response.server)
    assert exc.value.code == "locked"
    response.action.wait_until_finished()


def test_resource_limit_exceeded(make_server: Callable[..., Any]) -> None:
    with SimulatorThread(time_scale=0.01, server_limit=1, node_host_factory=recording_node_host) as sim:
        client = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05)
        make_server(client, "only")
        with pytest.raises(APIException) as exc:
            make_server(client, "one-too-many")
        assert exc.value.code == "resource_limit_exceeded"


def test_placement_error_past_ten(api_client: Client) -> None:
    group = api_client.placement_groups.create(name="spread", type="spread").placement_group
    image, stype = Image(name="ubuntu-24.04"), ServerType(name="cx23")
    for i in range(10):
        api_client.servers.create(name=f"s{i}", server_type=stype, image=image, placement_group=group)
    with pytest.raises(APIException) as exc:
        api_client.servers.create(name="s10", server_type=stype, image=image, placement_group=group)
    assert exc.value.code == "placement_error"


def test_resource_unavailable_for_type_not_offered_in_location(api_client: Client) -> None:
    wire = snapshot_wire()
    everywhere = {loc["name"] for loc in wire["locations"]}
    stype, missing = next(
        (st["name"], sorted(everywhere - {loc["name"] for loc in st["locations"] if loc["available"]})[0])
        for st in wire["server_types"]
        if everywhere - {loc["name"] for loc in st["locations"] if loc["available"]}
    )
    with pytest.raises(APIException) as exc:
        api_client.servers.create(
            name="nope", server_type=ServerType(name=stype), image=Image(name="ubuntu-24.04"), location=Location(name=missing)
        )
    assert exc.value.code == "resource_unavailable"


@pytest.mark.parametrize(
    ("ip_range", "subnet", "field"),
    [
        ("10.0.0.0/33", "10.0.1.0/24", "ip_range"),
        ("10.0.0.1/16", "10.0.1.0/24", "ip_range"),
        ("10.0.0.0/16", "10.9.0.0/24", "subnets[0].ip_range"),
        ("10.0.0.0/16", "not-a-cidr", "subnets[0].ip_range"),
    ],
)
def test_invalid_network_input(api_client: Client, ip_range: str, subnet: str, field: str) -> None:
    with pytest.raises(APIException) as exc:
        api_client.networks.create(
            name="bad", ip_range=ip_range, subnets=[NetworkSubnet(type="cloud", ip_range=subnet, network_zone="eu-central")]
        )
    assert exc.value.code == "invalid_input" and field_names(exc) == {field}


def test_invalid_volume_size_labels_and_selector(api_client: Client) -> None:
    with pytest.raises(APIException) as exc:
        api_client.volumes.create(size=5, name="tiny", location=Location(name="nbg1"))
    assert exc.value.code == "invalid_input" and field_names(exc) == {"size"}
    with pytest.raises(APIException) as exc:
        api_client.volumes.create(size=20, name="x", automount=True, location=Location(name="nbg1"))
    assert field_names(exc) == {"automount"}
    with pytest.raises(APIException) as exc:
        api_client.placement_groups.create(name="pg", type="spread", labels={"hetzner.cloud/x": "y"})
    assert exc.value.code == "invalid_input" and field_names(exc) == {"labels"}
    with pytest.raises(APIException) as exc:
        api_client.servers.get_all(label_selector="role in (a")
    assert exc.value.code == "invalid_input"


def test_failed_create_action_reports_error() -> None:
    faults = FaultProfile(failed_create_names=["doomed-*"])
    with SimulatorThread(time_scale=0.01, faults=faults, node_host_factory=recording_node_host) as sim:
        client = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05)
        response = client.servers.create(name="doomed-1", server_type=ServerType(name="cx23"), image=Image(name="ubuntu-24.04"))
        with pytest.raises(ActionFailedException) as exc:
            response.action.wait_until_finished()
        assert exc.value.action.error["code"] == "action_failed"
        assert client.servers.get_by_id(response.server.id).status == "off"
        assert sim.nodes.calls == []
