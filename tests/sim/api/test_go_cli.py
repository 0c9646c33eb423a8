"""The official Go CLI (`hcloud`, Debian's hcloud-cli) drives the simulator unchanged."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import asyncssh
import pytest

from khz_tui.sim.simulator import Simulator

pytestmark = pytest.mark.skipif(shutil.which("hcloud") is None, reason="the hcloud Go CLI is not installed (apt install hcloud-cli)")


def run(sim: Simulator, home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "HCLOUD_ENDPOINT": sim.endpoint, "HCLOUD_TOKEN": sim.token}
    env.pop("HCLOUD_CONTEXT", None)
    done = subprocess.run(["hcloud", *args], env=env, capture_output=True, text=True, timeout=60)
    if ok:
        assert done.returncode == 0, f"hcloud {' '.join(args)}: {done.stderr}"
    return done


def test_go_cli_builds_and_tears_down_a_cluster_skeleton(api_sim_thread: Simulator, tmp_path: Path) -> None:
    sim, home = api_sim_thread, tmp_path
    assert "cx23" in run(sim, home, "server-type", "list").stdout
    key_file = tmp_path / "id.pub"
    key_file.write_bytes(asyncssh.generate_private_key("ssh-ed25519").export_public_key())
    run(sim, home, "ssh-key", "create", "--name", "admin", "--public-key-from-file", str(key_file))
    run(sim, home, "network", "create", "--name", "net", "--ip-range", "10.0.0.0/16")
    run(sim, home, "network", "add-subnet", "net", "--type", "cloud", "--network-zone", "eu-central", "--ip-range", "10.0.1.0/24")
    run(sim, home, "placement-group", "create", "--name", "pg", "--type", "spread")
    run(sim, home, "firewall", "create", "--name", "fw")
    created = run(
        sim, home, "server", "create", "--name", "cp-1", "--type", "cx23", "--image", "ubuntu-24.04", "--location", "nbg1",
        "--ssh-key", "admin", "--network", "net", "--placement-group", "pg", "--firewall", "fw", "--label", "role=cp",
    )
    assert "10.0.1.2" in created.stdout
    listed = run(sim, home, "server", "list", "-l", "role=cp", "-o", "noheader", "-o", "columns=name,status")
    assert listed.stdout.split() == ["cp-1", "running"]
    run(sim, home, "load-balancer", "create", "--name", "api", "--type", "lb11", "--location", "nbg1")
    run(sim, home, "load-balancer", "attach-to-network", "api", "--network", "net")
    run(sim, home, "load-balancer", "add-target", "api", "--label-selector", "role=cp", "--use-private-ip")
    run(sim, home, "load-balancer", "add-service", "api", "--protocol", "tcp", "--listen-port", "6443", "--destination-port", "6443")
    (lb,) = sim.inspect.load_balancers()
    (server,) = sim.inspect.servers()
    assert sim.cloud.load_balancer_backends(lb.private_net[0].ip, 6443) == [server.id]
    run(sim, home, "volume", "create", "--name", "data", "--size", "10", "--server", "cp-1", "--automount", "--format", "ext4")
    assert sim.inspect.volume("data").server is not None
    run(sim, home, "volume", "detach", "data")
    run(sim, home, "volume", "delete", "data")
    run(sim, home, "load-balancer", "delete", "api")
    run(sim, home, "server", "delete", "cp-1")
    # The CLI does not wait for the delete action; the firewall stays in use until it finishes.
    deadline = time.monotonic() + 10
    while run(sim, home, "firewall", "delete", "fw", ok=False).returncode != 0:
        assert time.monotonic() < deadline, "firewall stayed in use after its server was deleted"
        time.sleep(0.1)
    run(sim, home, "network", "delete", "net")
    run(sim, home, "placement-group", "delete", "pg")
    assert not any(sim.inspect.ids(kind) for kind in ("servers", "networks", "load_balancers", "volumes", "firewalls"))
