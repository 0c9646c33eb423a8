"""Saving a plan and loading it back gives the same plan, for generated valid plans."""

from __future__ import annotations

import stat
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from khz_tui.plan.checks import check_plan
from khz_tui.plan.model import (
    AddonsSection,
    Autoscaling,
    ClusterPlan,
    ControlPlane,
    HcloudSection,
    K3sSection,
    LoadBalancerSection,
    NetworkSection,
    SshSection,
    StorageSection,
    Volume,
    WorkerPool,
)
from khz_tui.plan.toml_io import dumps_plan, load_plan, loads_plan, save_plan

EU = ["fsn1", "nbg1", "hel1"]
SERVER_TYPES = ["cpx22", "cpx32", "cpx42", "cax11", "cax21", "ccx13", "cx23", "cx33"]
IMAGES = ["ubuntu-24.04", "ubuntu-22.04", "debian-12", "debian-13"]
LOWER = string.ascii_lowercase + string.digits

dns_label = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
label_name = st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z")
label_key = st.one_of(label_name, st.builds(lambda p, n: f"{p}.io/{n}", dns_label, label_name))
label_value = st.one_of(st.just(""), label_name)
taint = st.builds(
    lambda k, v, e: f"{k}={v}:{e}" if v else f"{k}:{e}",
    label_name,
    st.one_of(st.just(""), label_name),
    st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
)
# Free text (k3s flags) may hold quotes, backslashes, unicode and newlines: TOML escaping must cope.
free_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
cidr = st.sampled_from(["203.0.113.7/32", "198.51.100.0/24", "2001:db8::/32", "0.0.0.0/0"])


@st.composite
def pools(draw):
    names = draw(st.lists(dns_label, max_size=3, unique=True))
    out = []
    for name in names:
        auto = draw(st.none() | st.builds(lambda a, b: Autoscaling(min=min(a, b), max=max(a, b)),
                                          st.integers(0, 5), st.integers(0, 5)))
        out.append(
            WorkerPool(
                name=name,
                server_type=draw(st.sampled_from(SERVER_TYPES)),
                count=draw(st.integers(0, 6)),
                location=draw(st.none() | st.sampled_from(EU)),
                image=draw(st.none() | st.sampled_from(IMAGES)),
                labels=draw(st.dictionaries(label_key, label_value, max_size=3)),
                taints=draw(st.lists(taint, max_size=2)),
                autoscaling=auto,
            )
        )
    return out


@st.composite
def plans(draw):
    worker_pools = draw(pools())
    pool_names = [p.name for p in worker_pools]
    volumes = []
    if pool_names:
        for name in draw(st.lists(dns_label, max_size=2, unique=True)):
            volumes.append(Volume(name=name, size_gb=draw(st.integers(10, 10240)),
                                  pool=draw(st.sampled_from(pool_names)), format=draw(st.sampled_from(["ext4", "xfs"]))))
    k3s = draw(st.one_of(
        st.builds(lambda v: K3sSection(version=v), st.sampled_from(["v1.33.6+k3s1", "v1.31.4+k3s2"])),
        st.builds(lambda c: K3sSection(channel=c), st.sampled_from(["stable", "latest", "v1.32"])),
    ))
    k3s = k3s.model_copy(update={
        "disable": draw(st.lists(st.sampled_from(["metrics-server", "local-storage"]), max_size=2, unique=True)),
        "server_args": draw(st.lists(free_text, max_size=2)),
        "agent_args": draw(st.lists(free_text, max_size=2)),
    })
    return ClusterPlan(
        name=draw(dns_label),
        hcloud=HcloudSection(
            token_env=draw(st.sampled_from(["HCLOUD_TOKEN", "MY_TOKEN"])),
            context=draw(st.none() | dns_label),
            location=draw(st.sampled_from(EU)),
            endpoint=draw(st.none() | st.just("https://api.example.com/v1")),
        ),
        ssh=SshSection(port=draw(st.integers(1, 65535)), allowed_cidrs=draw(st.lists(cidr, max_size=2)),
                       api_allowed_cidrs=draw(st.lists(cidr, max_size=2)),
                       public_key=draw(free_text.filter(lambda s: len(s) < 64))),
        control_plane=ControlPlane(
            server_type=draw(st.sampled_from(SERVER_TYPES)),
            count=draw(st.sampled_from([1, 3, 5])),
            locations=draw(st.lists(st.sampled_from(EU), max_size=3)),
            image=draw(st.sampled_from(IMAGES)),
            allow_workloads=draw(st.booleans()),
        ),
        worker_pools=worker_pools,
        network=NetworkSection(cni=draw(st.sampled_from(["flannel", "cilium", "calico"])), encryption=draw(st.booleans())),
        load_balancer=LoadBalancerSection(enabled=draw(st.booleans()), type=draw(st.sampled_from(["lb11", "lb21", "lb31"]))),
        storage=StorageSection(hcloud_csi=draw(st.booleans()), longhorn=draw(st.booleans()), volumes=volumes),
        k3s=k3s,
        addons=AddonsSection(
            system_upgrade_controller=draw(st.booleans()),
            ingress=draw(st.sampled_from(["traefik", "nginx", "none"])),
            service_load_balancer=draw(st.sampled_from(["hetzner", "klipper"])),
        ),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plans())
def test_load_of_save_is_identity(plan):
    # The strategy only draws valid choices; make sure of it, or the property would test nothing.
    assert [p for p in check_plan(plan) if p.severity == "error"] == []
    text = dumps_plan(plan)
    assert loads_plan(text) == plan
    assert dumps_plan(loads_plan(text)) == text  # and saving again is byte-stable


def test_defaults_are_written(tmp_path):
    path = tmp_path / "plan.toml"
    save_plan(ClusterPlan(name="demo"), path)
    text = path.read_text()
    assert 'server_type = "cpx22"' in text and "[[worker_pools]]" in text and 'type = "lb11"' in text
    assert "endpoint" not in text and "context" not in text  # unset values are left out
    assert load_plan(path) == ClusterPlan(name="demo")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["plan.toml"]  # no temporary file left behind


def test_empty_pool_list_survives():
    plan = ClusterPlan(name="solo", worker_pools=[], control_plane=ControlPlane(count=1))
    assert "worker_pools = []" in dumps_plan(plan)
    assert loads_plan(dumps_plan(plan)).worker_pools == []


def test_channel_only_survives():
    plan = ClusterPlan(name="x", k3s=K3sSection(channel="stable"))
    assert plan.k3s.version is None
    again = loads_plan(dumps_plan(plan))
    assert again == plan and again.k3s.channel == "stable" and again.k3s.version is None
