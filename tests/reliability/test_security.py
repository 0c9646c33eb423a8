"""Security: secrets stay out of every file and stream khz-tui writes, secret files are private, a node
with the wrong host key gets no command, destroy touches only what carries the cluster's labels, and
the firewall is never opened to the world unless the plan says so.

Everything runs the real CLI and engine against the real simulator over HTTP and SSH on 127.0.0.1.
The API token is a distinctive Hetzner-shaped value the simulator is started with, so finding it
anywhere means a leak.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import string
from pathlib import Path
from typing import Any

import pytest
from hcloud import Client
from hcloud.firewalls.domain import FirewallRule
from hcloud.images import Image
from hcloud.load_balancer_types import LoadBalancerType
from hcloud.locations import Location
from hcloud.server_types import ServerType
from security_support import files_under, find_secrets, mode_of, plan_data
from support.simulator import labeled, sshd_answers

from khz_tui import cli
from khz_tui.engine.api import Target, run
from khz_tui.engine.cluster_files import ClusterFiles, write_private_file
from khz_tui.engine.credentials import load_saved_token, save_token
from khz_tui.engine.events import EngineEvent
from khz_tui.engine.options import RunOptions
from khz_tui.launch.connect import connect
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.toml_io import save_plan
from khz_tui.sim.inspection import Firewall
from khz_tui.sim.simulator import Simulator, SimulatorThread, recording_node_host

TIME_SCALE = 0.02
SECRET_FILE, SECRET_DIR = 0o600, 0o700
OUR_LABELS = ("khz-tui.io/cluster", "khz-tui.io/managed-by")


def distinctive_token() -> str:
    """64 letters and digits like a Hetzner token, starting with a marker nobody else writes."""
    alphabet = string.ascii_letters + string.digits
    return "KhzSecScan" + "".join(secrets.choice(alphabet) for _ in range(54))


def run_cli(argv: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`khz_tui.cli.main` in this process; output captured at the file descriptors (logging included)."""
    code = cli.main(argv)
    out, err = capfd.readouterr()
    return code, out, err


def write_plan(path: Path, data: dict[str, Any]) -> Path:
    save_plan(ClusterPlan.model_validate(data), path)
    return path


# -- look-alikes (d) --------------------------------------------------------------------------------

def plant_look_alikes(hc: Client, cluster: str, public_key: str) -> dict[str, set[str]]:
    """Create, by hand, resources that resemble the cluster's but lack its labels or carry another
    cluster's: one of every type khz-tui creates. Returns {kind: names} to check after destroy."""
    other = {"khz-tui.io/cluster": "other", "khz-tui.io/managed-by": "khz-tui"}
    ours_unmanaged = {"khz-tui.io/cluster": cluster}  # the cluster label alone is not ownership
    prefix_cluster = {"khz-tui.io/cluster": f"{cluster}-x", "khz-tui.io/managed-by": "khz-tui"}
    planted: dict[str, set[str]] = {k: set() for k in ("servers", "networks", "firewalls", "load_balancers",
                                                       "volumes", "ssh_keys", "placement_groups")}
    label_sets = {"bare": None, "other": other, "ours-unmanaged": ours_unmanaged, "prefix": prefix_cluster}
    # The same public key, unlabeled: apply reuses a key with the same fingerprint, destroy must keep it.
    hc.ssh_keys.create(name=f"{cluster}-mine", public_key=public_key)
    planted["ssh_keys"].add(f"{cluster}-mine")
    loc, img, st = Location(name="fsn1"), Image(name="ubuntu-24.04"), ServerType(name="cx22")
    for tag, labels in label_sets.items():
        kw = {"labels": labels} if labels else {}
        net = hc.networks.create(name=f"{cluster}-net-{tag}", ip_range="10.9.0.0/16", **kw)
        planted["networks"].add(net.name)
        hc.firewalls.create(name=f"{cluster}-fw-{tag}", rules=[FirewallRule(direction="in", protocol="tcp", port="22",
                                                                            source_ips=["192.0.2.0/24"])], **kw)
        planted["firewalls"].add(f"{cluster}-fw-{tag}")
        hc.placement_groups.create(name=f"{cluster}-cp-pg-{tag}", type="spread", **kw)
        planted["placement_groups"].add(f"{cluster}-cp-pg-{tag}")
        hc.load_balancers.create(name=f"{cluster}-api-{tag}", load_balancer_type=LoadBalancerType(name="lb11"),
                                 location=loc, **kw)
        planted["load_balancers"].add(f"{cluster}-api-{tag}")
        hc.volumes.create(size=10, name=f"{cluster}-data-{tag}", location=loc, **kw)
        planted["volumes"].add(f"{cluster}-data-{tag}")
        hc.servers.create(name=f"{cluster}-cp-9{len(planted['servers'])}", server_type=st, image=img, location=loc,
                          start_after_create=False, **kw)
        planted["servers"].add(f"{cluster}-cp-9{len(planted['servers'])}")
    return planted


def names_in(hc: Client) -> dict[str, set[str]]:
    return {
        "servers": {s.name for s in hc.servers.get_all()},
        "networks": {n.name for n in hc.networks.get_all()},
        "firewalls": {f.name for f in hc.firewalls.get_all()},
        "load_balancers": {lb.name for lb in hc.load_balancers.get_all()},
        "volumes": {v.name for v in hc.volumes.get_all()},
        "ssh_keys": {k.name for k in hc.ssh_keys.get_all()},
        "placement_groups": {p.name for p in hc.placement_groups.get_all()},
    }


def check_private(root: Path, files: list[Path], folders: list[Path]) -> list[str]:
    """Problems with secret files that are not 0600 or folders that are not 0700."""
    problems = [f"{p.relative_to(root)} has mode {mode_of(p):o}, expected 600" for p in files
                if mode_of(p) != SECRET_FILE]
    problems += [f"{d.relative_to(root)} has mode {mode_of(d):o}, expected 700" for d in folders
                 if mode_of(d) != SECRET_DIR]
    return problems


# -- (a) (b) (d) (e): one full apply and destroy through the CLI --------------------------------------


def test_full_cli_apply_and_destroy_leak_nothing_keep_secrets_private_and_spare_look_alikes(
        tmp_path, ssh_keys, isolated_home, monkeypatch, capfd) -> None:
    token = distinctive_token()
    cluster = "sec"
    kubeconfig = tmp_path / "out" / "kube" / "sec.yaml"  # a folder that does not exist yet
    data = plan_data(cluster, ssh_keys, cp=3, workers=2, lb=True,
                     storage={"volumes": [{"name": "data", "pool": "default", "size_gb": 10}]})
    plan = write_plan(tmp_path / "sec.toml", data)
    problems: list[str] = []
    with SimulatorThread(token=token, time_scale=TIME_SCALE, seed=5) as sim:
        hc = Client(token=token, api_endpoint=sim.endpoint, poll_interval=0.05)
        planted = plant_look_alikes(hc, cluster, ssh_keys[1].read_text())
        monkeypatch.setenv("HCLOUD_TOKEN", token)
        common = ["--endpoint", sim.endpoint]
        streams: dict[str, str] = {}

        code, out, err = run_cli(["--apply", str(plan), *common, "--output", "json", "--kubeconfig", str(kubeconfig),
                                  "--merge-kubeconfig"], capfd)
        streams["apply stdout (json events)"], streams["apply stderr"] = out, err
        assert code == 0, err[-3000:] + out[-3000:]
        events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        assert events and events[-1]["kind"] == "RunFinished" and events[-1]["ok"]

        # The k3s join token, from the simulated cluster itself.
        servers = {s.id for s in labeled(sim, "servers", cluster)}
        k3s = sim.inspect.k3s_clusters(servers)[0]
        join_token, join_secret = k3s.token, k3s.secret
        assert join_secret and join_secret in join_token

        # (b) while the cluster exists: host keys, kubeconfigs and the run log are private.
        state = ClusterFiles(cluster)
        host_keys = sorted((state.dir / "host-keys").iterdir())
        assert len(host_keys) == 10, [p.name for p in host_keys]  # 5 nodes: private and public half
        problems += check_private(tmp_path, [kubeconfig, isolated_home / ".kube" / "config", *host_keys,
                                             *state.runs_dir.glob("*.jsonl")],
                                  [state.dir, state.dir / "host-keys", state.runs_dir, kubeconfig.parent,
                                   isolated_home / ".kube"])
        scanned_live = find_secrets(files_under(isolated_home, tmp_path), {"API token": token, "k3s join token": join_token, "k3s join secret": join_secret})
        problems += [f"secret in file {h} (after apply)" for h in scanned_live[2]]

        # (e) with empty ssh lists, the firewall lets SSH and 6443 in from this machine only.
        firewall = next(f for f in hc.firewalls.get_all(label_selector=f"khz-tui.io/cluster={cluster},khz-tui.io/managed-by=khz-tui"))
        world = {"0.0.0.0/0", "::/0"}
        for rule in firewall.rules:
            if rule.port in ("22", "6443"):
                if world & set(rule.source_ips):
                    problems.append(f"firewall rule {rule.port} is open to the world: {rule.source_ips}")
                if rule.source_ips != ["127.0.0.1/32"]:
                    problems.append(f"firewall rule {rule.port} allows {rule.source_ips}, expected this machine only")
        opened = {r.port for r in firewall.rules if r.direction == "in"}
        assert {"22", "6443"} <= opened, opened

        # A text-mode rerun (prints the table and the how-to), a dry-run, then destroy.
        code, out, err = run_cli(["--apply", str(plan), *common], capfd)
        streams["rerun stdout"], streams["rerun stderr"] = out, err
        assert code == 0, err[-2000:]
        code, out, err = run_cli(["--dry-run", str(plan), *common, "--output", "json"], capfd)
        streams["dry-run stdout"], streams["dry-run stderr"] = out, err
        assert code == 0, err[-2000:]
        code, out, err = run_cli(["--destroy", str(plan), *common, "--yes"], capfd)
        streams["destroy stdout"], streams["destroy stderr"] = out, err
        assert code == 0, err[-2000:]

        # (d) every look-alike survives; nothing of ours is left.
        left = names_in(hc)
        for kind, names in planted.items():
            gone = names - left[kind]
            if gone:
                problems.append(f"destroy deleted {kind} it does not own: {sorted(gone)}")
        ours = {kind: [r.name for r in labeled(sim, kind, cluster) if r.labels.get("khz-tui.io/managed-by") == "khz-tui"]
                for kind in planted}
        if any(ours.values()):
            problems.append(f"destroy left the cluster's own resources: {ours}")

    # (a) scan every file written under HOME (state, logs, host keys, ~/.kube), the kubeconfig, the
    # plan's folder, and every captured stream, for the API token and the join token (whole and secret).
    secrets_ = {"API token": token, "k3s join token": join_token, "k3s join secret": join_secret}
    roots = [isolated_home, tmp_path]
    files, size, hits = find_secrets(files_under(*roots), secrets_)
    problems += [f"secret in file {h}" for h in hits]
    for name, text in streams.items():
        for what, value in secrets_.items():
            if value in text:
                problems.append(f"{what} in {name}")
    run_logs = sorted(state.runs_dir.glob("*.jsonl"))
    assert len(run_logs) == 4, [p.name for p in run_logs]  # apply, rerun, dry-run, destroy
    assert kubeconfig.exists() and (isolated_home / ".kube" / "config").exists()
    assert files >= 10 and size > 0, (files, size)
    # The scan would have found the token had it been there: the same scanner on a planted copy.
    canary = tmp_path / "canary" / "c.txt"
    canary.parent.mkdir()
    canary.write_text(f"x{token}y")
    assert find_secrets([canary], secrets_)[2], "the scanner must find a planted token"
    canary.unlink()

    # (b) after destroy: the logs and kubeconfigs that stay are still private.
    problems += check_private(tmp_path, [kubeconfig, isolated_home / ".kube" / "config", *run_logs],
                              [state.dir, state.runs_dir, kubeconfig.parent, isolated_home / ".kube"])
    assert not problems, "\n".join(problems)
    print(f"\nscanned {scanned_live[0]} files after apply and {files} files ({size} bytes) after destroy, and "
          f"{len(streams)} streams, for 3 secrets; "
          f"{sum(len(v) for v in planted.values())} look-alikes survived destroy")


# -- (b) permissions of secret files, whatever the umask ---------------------------------------------


@pytest.mark.parametrize("umask", [0o000, 0o022])
def test_secret_files_are_private_whatever_the_umask(tmp_path, isolated_home, umask) -> None:
    old = os.umask(umask)
    try:
        state = ClusterFiles("perm")
        state.host_key("perm-cp-1")
        log = state.new_run_log("apply")
        log.close()
        kube = tmp_path / "new" / "dir" / "kubeconfig"
        write_private_file(kube, "apiVersion: v1\n")
        token_file = save_token("T" * 64)
    finally:
        os.umask(old)
    for path in (state.dir / "host-keys" / "perm-cp-1", state.dir / "host-keys" / "perm-cp-1.pub", log.path, kube,
                 token_file):
        assert mode_of(path) == SECRET_FILE, (path, oct(mode_of(path)))
    for folder in (state.dir, state.dir / "host-keys", state.runs_dir, kube.parent, token_file.parent):
        assert mode_of(folder) == SECRET_DIR, (folder, oct(mode_of(folder)))


def test_saved_token_that_was_world_readable_is_made_private_and_a_loose_one_is_refused(isolated_home) -> None:
    path = save_token("first")
    path.chmod(0o644)
    save_token("second")
    assert mode_of(path) == SECRET_FILE and load_saved_token() == "second"
    path.chmod(0o640)
    with pytest.raises(Exception) as refused:
        load_saved_token()
    assert "chmod 600" in str(refused.value) and "second" not in str(refused.value)


# -- (c) the wrong host key ---------------------------------------------------------------------------


async def test_a_node_presenting_another_host_key_gets_no_command(make_plan, isolated_home) -> None:
    """After a first apply, a worker's machine starts presenting a host key of its own (a replaced
    or impersonated server) and is rebooted through the API. A rerun must refuse it before sending
    any command, and name it and the reason."""
    plan = make_plan("hk", cp=1, workers=1, lb=False)
    async with Simulator(time_scale=TIME_SCALE, seed=4) as sim:
        target = Target(endpoint=sim.endpoint, simulated=True, token=sim.token, time_scale=sim.time_scale)
        events: list[EngineEvent] = []
        first = await run("apply", plan, target, sink=events.append, options=RunOptions())
        assert first.ok, first.message
        victim = sim.inspect.server("hk-default-1").id
        sim.nodes.replace_host_key(victim)  # the image's own key replaces the one cloud-init installed
        hc = Client(token=sim.token, api_endpoint=sim.endpoint)
        action = await asyncio.to_thread(lambda: hc.servers.reboot(hc.servers.get_by_id(victim)))
        await asyncio.to_thread(action.wait_until_finished, 100)
        await sshd_answers(sim, victim, timeout=30)  # back up, presenting the other key
        ran = sim.inspect.machine(victim).commands_run
        events.clear()
        second = await run("apply", plan, target, sink=events.append, options=RunOptions())
        assert sim.inspect.machine(victim).commands_run == ran, "a node that failed host-key verification ran a command"
    assert not second.ok
    assert "hk-default-1" in second.message and "host key" in second.message, second.message
    failed = [e for e in events if e.kind == "NodePhaseChanged" and e.phase == "failed"]
    assert [e.node for e in failed] == ["hk-default-1"]
    assert "host key" in (failed[0].reason or ""), failed[0].reason


# -- (e) firewall only opened to the world on request ----------------------------------------------------


async def _firewall_after_infrastructure(plan: ClusterPlan) -> Firewall:
    """The firewall an apply creates. The project allows no server, so the run creates the shared
    infrastructure (the firewall among it) and stops by itself at the first server: no run is
    cancelled, and nothing waits for a cancelled run to let go of the cluster."""
    async with Simulator(time_scale=TIME_SCALE, seed=1, node_host_factory=recording_node_host, server_limit=0) as sim:
        target = Target(endpoint=sim.endpoint, simulated=True, token=sim.token, time_scale=sim.time_scale)
        finished = await run("apply", plan, target, sink=lambda e: None, options=RunOptions())
        assert not finished.ok and "resource_limit_exceeded" in finished.message, finished.message
        (firewall,) = labeled(sim, "firewalls", plan.name)
        return firewall


def _sources(firewall: Firewall, port: str) -> set[str]:
    return {ip for r in firewall.rules if r.port == port for ip in r.source_ips}


async def test_firewall_is_opened_to_the_world_only_when_the_plan_says_so(make_plan, tmp_path, capfd) -> None:
    default = await _firewall_after_infrastructure(make_plan("fwd", cp=1, lb=False))
    assert _sources(default, "22") == {"127.0.0.1/32"} and _sources(default, "6443") == {"127.0.0.1/32"}
    narrow = await _firewall_after_infrastructure(make_plan("fwn", cp=1, lb=False, ssh={
        "public_key": str(tmp_path / "id_ed25519.pub"), "private_key": str(tmp_path / "id_ed25519"),
        "allowed_cidrs": ["198.51.100.0/24"], "api_allowed_cidrs": ["203.0.113.7/32"]}))
    assert _sources(narrow, "22") == {"198.51.100.0/24"} and _sources(narrow, "6443") == {"203.0.113.7/32"}
    world = {"public_key": str(tmp_path / "id_ed25519.pub"), "private_key": str(tmp_path / "id_ed25519"),
             "allowed_cidrs": ["0.0.0.0/0", "::/0"], "api_allowed_cidrs": ["0.0.0.0/0"]}
    opened = await _firewall_after_infrastructure(make_plan("fww", cp=1, lb=False, ssh=world))
    assert _sources(opened, "22") == {"0.0.0.0/0", "::/0"} and _sources(opened, "6443") == {"0.0.0.0/0"}
    # ... and validate warns about each world-open entry (exit 0: a warning, not an error).
    path = write_plan(tmp_path / "world.toml", {"name": "fww", "ssh": world})
    code, out, err = run_cli(["validate", str(path)], capfd)
    assert code == 0, err
    warnings = [line for line in out.splitlines() if "whole internet" in line]
    assert len(warnings) == 3, out
    assert any("ssh.allowed_cidrs[0]" in w and "SSH" in w for w in warnings)
    assert any("ssh.api_allowed_cidrs[0]" in w and "Kubernetes API" in w for w in warnings)
    code, out, err = run_cli(["validate", str(write_plan(tmp_path / "calm.toml", {"name": "fwd"}))], capfd)
    assert code == 0 and "whole internet" not in out


# -- screenshots ----------------------------------------------------------------------------------------


def test_committed_screenshots_hold_no_token_shaped_value_or_machine_path() -> None:
    """The SVGs in screenshots/ are made from a scripted engine with HOME in a temporary folder: none
    may hold a Hetzner-token-shaped value (64 letters and digits) or a home-directory path."""
    import re

    folder = Path(__file__).resolve().parents[2] / "screenshots"
    svgs = sorted(folder.glob("*.svg"))
    assert len(svgs) >= 10, "the screenshots script writes one SVG per screen"
    token_shape = re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])")
    for svg in svgs:
        text = svg.read_text(encoding="utf-8")
        visible = " ".join(re.findall(r">([^<]*)<", text)).replace("&#160;", " ")
        assert not token_shape.search(visible), svg.name
        assert "/home/" not in visible and "/root/" not in visible and "/Users/" not in visible, svg.name


async def test_wizard_screenshot_with_a_saved_token_on_screen_shows_no_token(tmp_path, isolated_home) -> None:
    """The credentials screen loads a saved token into its (hidden) field: an SVG screenshot of it,
    made the way screenshots/make_screenshots.py makes them, must not hold the token."""
    from textual.widgets import Input

    from khz_tui.ui.app import KhzApp

    token = distinctive_token()
    save_token(token)
    app = KhzApp(None, RunOptions(sim=True), connect=connect)
    async with app.run_test(size=(110, 34)) as pilot:
        await pilot.pause()
        field = app.screen.query_one("#token", Input)
        assert field.value == token and field.password, "the token should be in the field, hidden"
        app.save_screenshot("credentials.svg", path=str(tmp_path))
    svg = tmp_path / "credentials.svg"
    assert svg.stat().st_size > 1000
    assert find_secrets([svg], {"API token": token})[2] == []
    assert token[:16] not in svg.read_text(encoding="utf-8")
