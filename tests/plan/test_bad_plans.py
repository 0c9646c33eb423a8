"""A broad suite of broken plans: each must be refused by `khz-tui validate` with exit 2, the key
path of the problem, an actionable message, and no traceback."""

from __future__ import annotations

import pytest

from khz_tui import cli

HEAD = 'schema_version = 1\nname = "demo"\n'
T64 = "aB3" * 21 + "x"  # 64 letters and digits: the shape of a Hetzner API token

# (id, plan text, expected key path, message fragment)
CASES = [
    ("name-uppercase", 'schema_version = 1\nname = "Demo"\n', "name", "lowercase letters"),
    ("name-too-long", f'schema_version = 1\nname = "{"a" * 40}"\n', "name", "keep it to 32"),
    ("name-missing", "schema_version = 1\n", "name", "give the cluster a name"),
    ("name-trailing-dash", 'schema_version = 1\nname = "demo-"\n', "name", "start and end"),
    ("schema-version-unsupported", 'schema_version = 2\nname = "demo"\n', "schema_version", "not supported"),
    ("schema-version-missing", 'name = "demo"\n', "schema_version", "schema_version = 1"),
    ("cp-count-even", HEAD + "[control_plane]\ncount = 2\n", "control_plane.count", "etcd needs a majority"),
    ("cp-count-four", HEAD + "[control_plane]\ncount = 4\n", "control_plane.count", "use 1, 3 or 5"),
    ("cp-count-not-int", HEAD + '[control_plane]\ncount = "three"\n', "control_plane.count", "whole number"),
    ("count-quoted", HEAD + '[control_plane]\ncount = "3"\n', "control_plane.count", "without quotes"),
    ("bool-quoted", HEAD + '[load_balancer]\nenabled = "yes"\n', "load_balancer.enabled", "true or false"),
    ("list-expected", HEAD + '[ssh]\nallowed_cidrs = "10.0.0.0/8"\n', "ssh.allowed_cidrs", "list in brackets"),
    ("text-expected", HEAD + "[hcloud]\nlocation = 1\n", "hcloud.location", "text in quotes"),
    ("pool-count-negative", HEAD + '[[worker_pools]]\nname = "a"\ncount = -1\n', "worker_pools[0].count", "0 or more"),
    ("pool-name-duplicate", HEAD + '[[worker_pools]]\nname = "a"\n[[worker_pools]]\nname = "a"\n',
     "worker_pools[1].name", "already used"),
    ("pool-name-cp", HEAD + '[[worker_pools]]\nname = "cp"\ncount = 1\n', "worker_pools[0].name",
     "taken by the control plane: its nodes are named demo-cp-1"),
    ("pool-name-missing", HEAD + "[[worker_pools]]\ncount = 1\n", "worker_pools[0].name", "required"),
    ("taint-form", HEAD + '[[worker_pools]]\nname = "a"\ntaints = ["dedicated:web"]\n',
     "worker_pools[0].taints", "key=value:Effect"),
    ("taint-effect", HEAD + '[[worker_pools]]\nname = "a"\ntaints = ["a=b:Never"]\n',
     "worker_pools[0].taints", "NoSchedule"),
    ("label-key", HEAD + '[[worker_pools]]\nname = "a"\nlabels = { "-bad" = "x" }\n',
     "worker_pools[0].labels", "label key"),
    ("label-reserved-prefix", HEAD + '[[worker_pools]]\nname = "a"\nlabels = { "hetzner.cloud/x" = "y" }\n',
     "worker_pools[0].labels", "reserved"),
    ("label-value-long", HEAD + f'[[worker_pools]]\nname = "a"\nlabels = {{ tier = "{"v-" * 32}x" }}\n',
     "worker_pools[0].labels", "at most 63"),
    ("cidr-invalid", HEAD + '[network]\nip_range = "10.0.0.0/33"\n', "network.ip_range", "CIDR"),
    ("cidr-host-bits", HEAD + '[network]\nsubnet = "10.0.1.5/24"\n', "network.subnet", "did you mean 10.0.1.0/24"),
    ("cidr-ipv6-network", HEAD + '[network]\nip_range = "fd00::/64"\n', "network.ip_range", "IPv4"),
    ("network-not-rfc1918", HEAD + '[network]\nip_range = "100.64.0.0/16"\nsubnet = "100.64.1.0/24"\n',
     "network.ip_range", "private range Hetzner accepts"),
    ("network-smaller-than-24", HEAD + '[network]\nip_range = "10.0.0.0/25"\nsubnet = "10.0.0.0/25"\n',
     "network.ip_range", "minimum network size"),
    ("subnet-outside-range", HEAD + '[network]\nsubnet = "10.1.1.0/24"\n', "network.subnet", "outside ip_range"),
    ("pod-overlaps-network", HEAD + '[network]\npod_cidr = "10.0.128.0/17"\n', "network.pod_cidr", "overlaps"),
    ("service-overlaps-pod", HEAD + '[network]\nservice_cidr = "10.42.0.0/24"\n', "network.service_cidr", "overlaps"),
    ("subnet-too-small", HEAD + '[network]\nsubnet = "10.0.1.0/29"\n', "network.subnet", "usable addresses"),
    ("over-100-servers", HEAD + '[[worker_pools]]\nname = "a"\ncount = 98\n[network]\nsubnet = "10.0.0.0/22"\n',
     "worker_pools[0].count", "at most 100"),
    ("autoscaling-pushes-over-100",
     HEAD + '[[worker_pools]]\nname = "a"\ncount = 2\nautoscaling = { min = 1, max = 120 }\n'
     '[network]\nsubnet = "10.0.0.0/22"\n', "worker_pools[0].count", "autoscaling maximums included"),
    ("autoscaling-min-max", HEAD + '[[worker_pools]]\nname = "a"\nautoscaling = { min = 5, max = 2 }\n',
     "worker_pools[0].autoscaling", "larger than max"),
    ("location-unknown", HEAD + '[hcloud]\nlocation = "xyz1"\n', "hcloud.location", "unknown location"),
    ("location-outside-zone", HEAD + '[hcloud]\nlocation = "ash"\n', "hcloud.location", "network zone us-east"),
    ("cp-location-outside-zone", HEAD + '[control_plane]\nlocations = ["fsn1", "hil"]\n',
     "control_plane.locations[1]", "network zone"),
    ("pool-location-outside-zone", HEAD + '[[worker_pools]]\nname = "a"\nlocation = "sin"\n',
     "worker_pools[0].location", "network zone"),
    ("zone-unknown", HEAD + '[network]\nzone = "mars-1"\n', "network.zone", "unknown network zone"),
    ("server-type-unknown", HEAD + '[control_plane]\nserver_type = "cpx99"\n', "control_plane.server_type",
     "unknown server type"),
    ("server-type-not-offered", HEAD + '[hcloud]\nlocation = "ash"\n[network]\nzone = "us-east"\n'
     '[[worker_pools]]\nname = "arm"\nserver_type = "cax21"\n', "worker_pools[0].server_type", "not offered in ash"),
    ("server-type-no-longer-sold", HEAD + '[control_plane]\nserver_type = "cx22"\n', "control_plane.server_type",
     "no longer sold"),
    ("lb-type-unknown", HEAD + '[load_balancer]\ntype = "lb99"\n', "load_balancer.type", "unknown load balancer"),
    ("image-unknown", HEAD + '[control_plane]\nimage = "windows-11"\n', "control_plane.image", "unknown image"),
    ("pool-image-unknown", HEAD + '[[worker_pools]]\nname = "a"\nimage = "centos-6"\n', "worker_pools[0].image",
     "unknown image"),
    ("volume-too-small", HEAD + '[[storage.volumes]]\nname = "data"\nsize_gb = 5\n', "storage.volumes[0].size_gb",
     "10 to 10240"),
    ("volume-too-big", HEAD + '[[storage.volumes]]\nname = "data"\nsize_gb = 20000\n', "storage.volumes[0].size_gb",
     "10 to 10240"),
    ("volume-pool-missing", HEAD + '[[storage.volumes]]\nname = "data"\npool = "gpu"\n', "storage.volumes[0].pool",
     "no worker pool named 'gpu'"),
    ("volume-name-duplicate", HEAD + '[[storage.volumes]]\nname = "d"\n[[storage.volumes]]\nname = "d"\n',
     "storage.volumes[1].name", "already used"),
    ("volume-format", HEAD + '[[storage.volumes]]\nname = "d"\nformat = "btrfs"\n', "storage.volumes[0].format",
     "'ext4' or 'xfs'"),
    ("ssh-port-zero", HEAD + "[ssh]\nport = 0\n", "ssh.port", "1 or more"),
    ("ssh-port-high", HEAD + "[ssh]\nport = 70000\n", "ssh.port", "65535 or less"),
    ("ssh-cidr-invalid", HEAD + '[ssh]\nallowed_cidrs = ["my-office"]\n', "ssh.allowed_cidrs", "CIDR"),
    ("k3s-version-form", HEAD + '[k3s]\nversion = "1.31.4"\n', "k3s.version", "k3s release such as"),
    ("k3s-version-and-channel", HEAD + '[k3s]\nversion = "v1.31.4+k3s1"\nchannel = "stable"\n', "k3s", "not both"),
    ("k3s-channel", HEAD + '[k3s]\nchannel = "newest"\n', "k3s.channel", "not a k3s channel"),
    ("k3s-disable-unknown", HEAD + '[k3s]\ndisable = ["flannel"]\n', "k3s.disable[0]", "packaged k3s component"),
    ("ingress-disabled", HEAD + '[k3s]\ndisable = ["traefik"]\n', "k3s.disable[0]", "turns traefik off"),
    ("klipper-disabled", HEAD + '[k3s]\ndisable = ["servicelb"]\n[addons]\nservice_load_balancer = "klipper"\n',
     "k3s.disable[0]", "turns servicelb"),
    ("hetzner-lb-needs-ccm", HEAD + "[addons]\ncloud_controller = false\n", "addons.service_load_balancer",
     "needs the cloud controller"),
    ("cni-unknown", HEAD + '[network]\ncni = "weave"\n', "network.cni", "'flannel', 'cilium' or 'calico'"),
    ("unknown-key", HEAD + '[hcloud]\nlocaton = "fsn1"\n', "hcloud.locaton", "unknown key"),
    ("unknown-table", HEAD + "[monitoring]\nenabled = true\n", "monitoring", "unknown key"),
    ("section-not-table", HEAD.replace('name = "demo"\n', 'name = "demo"\nhcloud = 3\n'), "hcloud", "table"),
    ("endpoint-not-url", HEAD + '[hcloud]\nendpoint = "api.hetzner.cloud"\n', "hcloud.endpoint", "http(s) URL"),
    ("token-env-name", HEAD + '[hcloud]\ntoken_env = "MY-TOKEN"\n', "hcloud.token_env", "environment variable name"),
    ("context-empty", HEAD + '[hcloud]\ncontext = ""\n', "hcloud.context", "hcloud context list"),
    ("token-key", HEAD + '[hcloud]\ntoken = "not-really"\n', "hcloud.token", "never belong in a plan"),
    ("token-top-level", HEAD + 'hcloud_token = "x"\n', "hcloud_token", "never belong in a plan"),
    ("api-key", HEAD + '[addons]\napi_key = "x"\n', "addons.api_key", "never belong in a plan"),
    ("token-shaped-value", HEAD + f'[ssh]\npublic_key = "{T64}"\n', "ssh.public_key", "looks like a Hetzner API token"),
]


@pytest.mark.parametrize(("text", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_plan_is_refused(tmp_path, capsys, text, path, fragment):
    plan = tmp_path / "plan.toml"
    plan.write_text(text, encoding="utf-8")
    code = cli.main(["validate", str(plan)])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{path} " in err or f"{path}:" in err, err
    assert fragment in err, err
    assert "Traceback" not in out + err
    assert out == ""  # nothing that looks like success goes to stdout


def test_suite_is_broad():
    assert len(CASES) >= 30


def test_no_secret_is_echoed(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(
        HEAD + f'[hcloud]\ntoken = "{T64}"\n[ssh]\nprivate_key = "{T64}"\nallowed_cidrs = ["{T64}"]\n'
        f'[[worker_pools]]\nname = "a"\nlabels = {{ tier = "{T64}" }}\n',
        encoding="utf-8",
    )
    assert cli.main(["validate", str(plan)]) == 2
    out, err = capsys.readouterr()
    assert T64 not in out + err
    for path in ("hcloud.token", "ssh.private_key", "ssh.allowed_cidrs[0]", "worker_pools[0].labels.tier"):
        assert path in err
    # each secret is reported once, by the secret rule, not again as a bad CIDR or label
    assert "CIDR" not in err and "label" not in err.replace("labels.tier", "")


def test_all_problems_reported_at_once_with_lines(tmp_path, capsys):
    text = (
        HEAD
        + "[control_plane]\n"  # line 3
        + "count = 2\n"  # line 4
        + "[[worker_pools]]\n"  # line 5
        + 'name = "a"\n'  # line 6
        + "[[worker_pools]]\n"  # line 7
        + 'name = "b"\n'  # line 8
        + "count = -3\n"  # line 9
        + "[ssh]\n"  # line 10
        + "port = 0\n"  # line 11
    )
    plan = tmp_path / "plan.toml"
    plan.write_text(text, encoding="utf-8")
    assert cli.main(["validate", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "3 problems" in err
    assert "control_plane.count (line 4)" in err
    assert "worker_pools[1].count (line 9)" in err
    assert "ssh.port (line 11)" in err


def test_json_output_lists_problems(tmp_path, capsys):
    import json

    plan = tmp_path / "plan.toml"
    plan.write_text(HEAD + "[control_plane]\ncount = 2\n", encoding="utf-8")
    assert cli.main(["validate", "--output", "json", str(plan)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert report["problems"] == [
        {"path": "control_plane.count", "message": report["problems"][0]["message"], "line": 4, "severity": "error"}
    ]
