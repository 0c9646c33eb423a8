"""Rate limit headers and 429, fault determinism under a seed, IP allocation, x-sim endpoints,
state persistence and the `sim serve` command line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from hcloud import APIException, Client

from khz_tui.sim.api.addresses import PublicAddresses, next_private_ip
from khz_tui.sim.api.ratelimit import TokenBucket
from khz_tui.sim.faults import PROFILES, EndpointFaults, FaultDice, FaultProfile, load_profile
from khz_tui.sim.serve import main as serve_main
from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host


def test_rate_limit_headers_on_every_response(api_sim_thread: Simulator) -> None:
    headers = {"Authorization": f"Bearer {api_sim_thread.token}"}
    first = requests.get(f"{api_sim_thread.endpoint}/servers", headers=headers, timeout=5)
    second = requests.get(f"{api_sim_thread.endpoint}/servers/1", headers=headers, timeout=5)
    assert first.headers["RateLimit-Limit"] == "3600"
    assert int(second.headers["RateLimit-Remaining"]) < int(first.headers["RateLimit-Remaining"])
    assert second.status_code == 404 and "RateLimit-Reset" in second.headers


def test_429_when_the_bucket_is_empty() -> None:
    with SimulatorThread(time_scale=0.01, rate_limit_per_hour=2, node_host_factory=recording_node_host) as sim:
        headers = {"Authorization": f"Bearer {sim.token}"}
        codes = [requests.get(f"{sim.endpoint}/locations", headers=headers, timeout=5) for _ in range(3)]
        assert [r.status_code for r in codes] == [200, 200, 429]
        limited = codes[-1]
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert limited.headers["RateLimit-Remaining"] == "0" and limited.headers["RateLimit-Limit"] == "2"
        client = Client(token=sim.token, api_endpoint=sim.endpoint)
        client._client._retry_max_retries = 0  # the client retries 429 for half a minute otherwise
        with pytest.raises(APIException) as exc:
            client.locations.get_all()
        assert exc.value.code == "rate_limit_exceeded"


def test_token_bucket_refills_one_per_second_by_default() -> None:
    now = [1000.0]
    bucket = TokenBucket(3600, clock=lambda: now[0])
    bucket.drain()
    assert bucket.take() is False
    now[0] += 1.0
    assert bucket.take() is True and bucket.take() is False
    assert int(bucket.headers()["RateLimit-Reset"]) == 1000 + 1 + 3600


def test_fault_decisions_repeat_under_a_seed() -> None:
    profile = FaultProfile(endpoints=[EndpointFaults(pattern="* /servers*", server_error=0.3, unavailable=0.2)])
    runs = []
    for _ in range(2):
        dice = FaultDice(profile, seed=7)
        runs.append([dice.request("GET", "/servers").error for _ in range(200)])
    assert runs[0] == runs[1]
    assert {"server_error", "unavailable", None} == set(runs[0])
    other = FaultDice(profile, seed=8)
    assert [other.request("GET", "/servers").error for _ in range(200)] != runs[0]
    assert FaultDice(profile, seed=7).request("GET", "/networks").error is None  # pattern limits the rule


def test_flaky_profile_end_to_end_is_deterministic() -> None:
    outcomes = []
    for _ in range(2):
        with SimulatorThread(time_scale=0.01, seed=3, faults=PROFILES["flaky-api"], node_host_factory=recording_node_host) as sim:
            headers = {"Authorization": f"Bearer {sim.token}"}
            codes = []
            for _ in range(120):
                try:
                    codes.append(requests.get(f"{sim.endpoint}/locations", headers=headers, timeout=5).status_code)
                except requests.ConnectionError:
                    codes.append("dropped")
            outcomes.append(codes)
    assert outcomes[0] == outcomes[1]
    assert 200 in outcomes[0] and len(set(outcomes[0])) > 1


def test_named_and_file_profiles(tmp_path: Path) -> None:
    assert set(PROFILES) == {"none", "latency", "flaky-api", "failed-create", "ssh-drops", "reboot-during-install", "unreachable-node", "chaos"}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"failed_create_names": ["w-*"], "node": {"ssh_drop_probability": 0.5}}))
    profile = load_profile(str(path))
    assert profile.failed_create_names == ["w-*"] and profile.node.ssh_drop_probability == 0.5
    with pytest.raises(ValueError, match="unknown fault profile"):
        load_profile("no-such-profile")


def test_addresses_are_allocated_and_released() -> None:
    pool = PublicAddresses()
    first, second = pool.take_v4(), pool.take_v4()
    assert first != second
    pool.release(first)
    assert pool.take_v4() == first
    v6 = pool.take_v6()
    pool.release(v6)
    assert pool.take_v6() == v6
    assert next_private_ip("10.0.1.0/24", set()) == "10.0.1.2"
    assert next_private_ip("10.0.1.0/30", {"10.0.1.2"}) is None


def test_server_delete_releases_addresses(api_client: Client, api_sim_thread: Simulator, make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    net = make_network(api_client)
    first = make_server(api_client, "a", networks=[net])
    address = first.public_net.ipv4.ip
    assert api_sim_thread.cloud.server_at(address) == first.id
    assert api_sim_thread.cloud.server_at("10.0.1.2") == first.id
    first.delete().wait_until_finished()
    assert api_sim_thread.cloud.server_at(address) is None
    second = make_server(api_client, "b", networks=[net])
    assert second.public_net.ipv4.ip == address and second.private_net[0].ip == "10.0.1.2"


def test_x_sim_endpoints(api_client: Client, make_server: Callable[..., Any]) -> None:
    info = api_client.request("GET", "/x-sim/info")
    assert info["simulator"] is True and info["caller_cidr"] == "127.0.0.1/32"
    server = make_server(api_client, "n1")
    # The recording node host has no sshd, so the server is known but has no target yet.
    assert api_client.request("GET", "/x-sim/ssh-targets", params={"id": [server.id]}) == {"targets": []}
    with pytest.raises(APIException) as exc:
        api_client.request("GET", "/x-sim/ssh-targets", params={"id": [999]})
    assert exc.value.code == "not_found"


def test_request_counters_separate_mutations(api_client: Client, api_sim_thread: Simulator) -> None:
    before = api_sim_thread.mutating_request_count
    api_client.servers.get_all()
    api_client.locations.get_all()
    assert api_sim_thread.mutating_request_count == before
    api_client.placement_groups.create(name="pg", type="spread")
    assert api_sim_thread.mutating_request_count == before + 1


def test_state_survives_a_restart(tmp_path: Path, make_network: Callable[..., Any], make_server: Callable[..., Any]) -> None:
    state_file = tmp_path / "project.json"
    kwargs = dict(time_scale=0.01, token="t0k", state_file=state_file, node_host_factory=recording_node_host)
    with SimulatorThread(**kwargs) as sim:
        client = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05)
        net = make_network(client)
        server = make_server(client, "keeper", networks=[net], labels={"role": "cp"})
    assert state_file.exists() and "t0k" not in state_file.read_text()
    with SimulatorThread(**kwargs) as sim:
        client = Client(token=sim.token, api_endpoint=sim.endpoint, poll_interval=0.05)
        again = client.servers.get_by_name("keeper")
        assert again.id == server.id and again.status == "running" and again.private_net[0].ip == "10.0.1.2"
        assert sim.nodes.booted[server.id].name == "keeper"
        fresh = make_server(client, "newcomer", networks=[client.networks.get_by_id(net.id)])
        assert fresh.id != server.id and fresh.public_net.ipv4.ip != again.public_net.ipv4.ip


@pytest.mark.parametrize(
    "argv",
    [["serve", "--time-scale", "0"], ["serve", "--port", "99999"], ["serve", "--faults", "nope"], ["bogus"]],
)
def test_serve_rejects_bad_arguments(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = serve_main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "error" in capsys.readouterr().err
