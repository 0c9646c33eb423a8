"""Reading plan files: every way a file can be unusable, the examples, warnings, line finding,
the JSON Schema and the generated reference."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from khz_tui import cli
from khz_tui.plan.checks import Problem, validate_data
from khz_tui.plan.model import ClusterPlan
from khz_tui.plan.reference import default_path, render_reference
from khz_tui.plan.toml_io import PlanError, find_line, key_lines, load_plan, loads_plan
from khz_tui.plan.validate import plan_json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "examples").glob("*.toml"))
HEAD = 'schema_version = 1\nname = "demo"\n'


def _validate(tmp_path: Path, text: str | bytes, capsys) -> tuple[int, str, str]:
    plan = tmp_path / "plan.toml"
    plan.write_bytes(text if isinstance(text, bytes) else text.encode())
    code = cli.main(["validate", str(plan)])
    out, err = capsys.readouterr()
    return code, out, err


# -- files that cannot be read ---------------------------------------------------------------------


def test_missing_file(tmp_path, capsys):
    code = cli.main(["validate", str(tmp_path / "nope.toml")])
    err = capsys.readouterr().err
    assert code == 2 and "nope.toml" in err and "no such file" in err and "Traceback" not in err


def test_directory(tmp_path, capsys):
    code = cli.main(["validate", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "is a directory" in err


def test_not_utf8(tmp_path, capsys):
    code, _, err = _validate(tmp_path, HEAD.encode() + b'[hcloud]\nlocation = "n\xfcrnberg"\n', capsys)
    assert code == 2 and "not UTF-8" in err and "line 4" in err


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file; needs a normal user")
def test_unreadable(tmp_path, capsys):
    plan = tmp_path / "plan.toml"
    plan.write_text(HEAD)
    plan.chmod(0)
    assert cli.main(["validate", str(plan)]) == 2
    assert "permission denied" in capsys.readouterr().err


def test_path_through_a_file(tmp_path, capsys):
    # Any other OS error (here: a file used as a directory) is reported the same plain way.
    (tmp_path / "plan.toml").write_text(HEAD)
    assert cli.main(["validate", str(tmp_path / "plan.toml" / "x.toml")]) == 2
    err = capsys.readouterr().err
    assert "cannot be read" in err and "Traceback" not in err


def test_toml_syntax_error_has_line(tmp_path, capsys):
    code, _, err = _validate(tmp_path, HEAD + "[control_plane]\ncount = = 3\n", capsys)
    assert code == 2 and "not valid TOML" in err and "(line 4)" in err


def test_toml_unterminated_at_end(tmp_path, capsys):
    code, _, err = _validate(tmp_path, HEAD + "[ssh]\nallowed_cidrs = [\n", capsys)
    assert code == 2 and "not valid TOML" in err and "(line " in err


def test_load_plan_raises_plan_error_with_problems(tmp_path):
    with pytest.raises(PlanError) as info:
        load_plan(tmp_path / "missing.toml")
    assert info.value.source.endswith("missing.toml")
    assert info.value.problems[0].severity == "error"
    assert "missing.toml" in str(info.value)


def test_real_process_prints_no_traceback(tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(HEAD + "[control_plane]\ncount = 2\n[hcloud]\ntoken = 'x'\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["validate", str(plan)], ["validate", str(tmp_path / "none.toml")], ["validate", str(tmp_path)]):
        proc = subprocess.run([sys.executable, "-m", "khz_tui", *args], capture_output=True, text=True, env=env,
                              timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout


# -- the examples ----------------------------------------------------------------------------------


def test_the_required_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {"single-node.toml", "ha-seed.toml", "large-cilium.toml", "minimal.toml"} <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_validates(example, capsys):
    assert cli.main(["validate", str(example)]) == 0
    out = capsys.readouterr().out
    assert "the plan is valid" in out and "total" in out and "EUR" in out


def test_examples_mean_what_they_say():
    single = load_plan(ROOT / "docs/examples/single-node.toml")
    assert single.server_count() == 1 and not single.load_balancer.enabled and single.control_plane.allow_workloads
    seed = load_plan(ROOT / "docs/examples/ha-seed.toml")
    assert seed.control_plane.count == 3 and seed.server_count() == 5
    assert seed.load_balancer.enabled and seed.storage.volumes
    large = load_plan(ROOT / "docs/examples/large-cilium.toml")
    assert large.control_plane.count == 3 and large.server_count() == 43
    assert len(large.worker_pools) == 2 and large.network.cni == "cilium"


def test_minimal_plan_is_the_reference_architecture():
    plan = load_plan(ROOT / "docs/examples/minimal.toml")
    assert plan.control_plane.count == 3 and plan.control_plane.server_type == "cpx22"
    assert [(p.name, p.count, p.server_type) for p in plan.worker_pools] == [("default", 2, "cpx32")]
    assert plan.load_balancer.enabled and plan.load_balancer.type == "lb11"
    assert plan.hcloud.location == "fsn1" and plan.control_plane.image == "ubuntu-24.04"
    assert plan.network.cni == "flannel" and plan.storage.hcloud_csi


def test_validate_json_summary(capsys):
    assert cli.main(["validate", "--output", "json", str(ROOT / "docs/examples/ha-seed.toml")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["summary"]["control_plane"]["locations"] == ["fsn1", "nbg1", "hel1"]
    assert report["cost"]["currency"] == "EUR" and report["cost"]["monthly"] == "64.24"


# -- warnings --------------------------------------------------------------------------------------

WARNINGS = [
    ("ssh-world", HEAD + '[ssh]\nallowed_cidrs = ["0.0.0.0/0"]\n', "ssh.allowed_cidrs[0]", "whole internet"),
    ("api-world-v6", HEAD + '[ssh]\napi_allowed_cidrs = ["::/0"]\n', "ssh.api_allowed_cidrs[0]", "whole internet"),
    ("lb-single-cp", HEAD + "worker_pools = []\n[control_plane]\ncount = 1\n", "load_balancer.enabled",
     "without adding availability"),
    ("nothing-runs-workloads", HEAD + "worker_pools = []\n", "control_plane.allow_workloads", "nothing you deploy"),
    ("http-endpoint", HEAD + '[hcloud]\nendpoint = "http://api.example.com/v1"\n', "hcloud.endpoint", "unencrypted"),
    # Nothing installs an autoscaler yet: a plan that sets autoscaling is told so.
    ("autoscaling-not-installed", HEAD + '[[worker_pools]]\nname = "a"\ncount = 9\nautoscaling = { min = 1, max = 5 }\n',
     "worker_pools[0].autoscaling", "installs no autoscaler"),
    ("volume-on-empty-pool", HEAD + '[[worker_pools]]\nname = "a"\ncount = 0\n[[worker_pools]]\nname = "b"\n'
     '[[storage.volumes]]\nname = "d"\npool = "a"\n', "storage.volumes[0].pool", "no nodes"),
]


@pytest.mark.parametrize(("text", "path", "fragment"), [w[1:] for w in WARNINGS], ids=[w[0] for w in WARNINGS])
def test_warning_does_not_fail(tmp_path, capsys, text, path, fragment):
    code, out, err = _validate(tmp_path, text, capsys)
    assert code == 0, err
    assert "warning" in out and path in out and fragment in out


def test_local_http_endpoint_is_fine():
    plan, problems = validate_data({"schema_version": 1, "name": "x", "hcloud": {"endpoint": "http://127.0.0.1:8080/v1"}})
    assert plan is not None and problems == []


def test_api_ranges_beside_a_public_api_load_balancer_are_called_out():
    """Hetzner firewalls attach to servers only, so written API ranges do not guard the API load balancer:
    say so where the ranges are written, and not when there is no load balancer."""
    ranges = {"schema_version": 1, "name": "x", "ssh": {"api_allowed_cidrs": ["198.51.100.0/24"]}}
    _, problems = validate_data(ranges)
    (warning,) = [p for p in problems if p.path == "ssh.api_allowed_cidrs"]
    assert warning.severity == "warning" and "load balancer is public" in warning.message
    _, without_lb = validate_data({**ranges, "load_balancer": {"enabled": False}})
    assert not [p for p in without_lb if p.path == "ssh.api_allowed_cidrs"]


# -- lines -----------------------------------------------------------------------------------------


def test_key_lines_follow_tables_and_arrays():
    text = (
        "schema_version = 1\n"
        'name = "x"  # comment\n'
        "[[worker_pools]]\n"
        'name = "a"\n'
        "[worker_pools.autoscaling]\n"
        "max = 3\n"
        "[[worker_pools]]\n"
        'name = "b"\n'
        'labels = { tier = "web" }\n'
        "[storage]\n"
        "[[storage.volumes]]\n"
        'name = "v"\n'
        "[k3s]\n"
        'server_args = """\n'
        "fake = 1\n"
        '"""\n'
        "disable = []\n"
    )
    lines = key_lines(text)
    assert lines["name"] == 2
    assert lines["worker_pools[0].name"] == 4
    assert lines["worker_pools[0].autoscaling.max"] == 6
    assert lines["worker_pools[1].name"] == 8
    assert lines["storage.volumes[0].name"] == 12
    assert "k3s.fake" not in lines and lines["k3s.disable"] == 17
    assert find_line(text, "worker_pools[1].labels.tier") == 9  # inside an inline table: the key's line
    assert find_line(text, "network.zone") is None
    assert find_line(text, "") is None


def test_problem_describe():
    assert Problem("a.b", "fix it", 3).describe() == "a.b (line 3): fix it"
    assert Problem("", "bad", severity="warning").describe() == "warning: plan: bad"


def test_loads_plan_reports_lines_for_cross_checks():
    text = HEAD + '[network]\nip_range = "10.0.0.0/16"\nsubnet = "10.9.0.0/24"\n'
    with pytest.raises(PlanError) as info:
        loads_plan(text, "x.toml")
    (problem,) = info.value.problems
    assert (problem.path, problem.line) == ("network.subnet", 5)


# -- catalog rules that the bundled snapshot cannot trigger ---------------------------------------


def test_image_architecture_mismatch():
    from khz_tui.plan.catalog import Catalog, snapshot_wire

    wire = snapshot_wire()
    wire["images"] = [im for im in wire["images"] if not (im["name"] == "debian-13" and im["architecture"] == "arm")]
    catalog = Catalog.from_wire(wire)
    data = {"schema_version": 1, "name": "x", "control_plane": {"image": "debian-13"},
            "worker_pools": [{"name": "arm", "server_type": "cax21"}]}
    plan, problems = validate_data(data, catalog)
    assert plan is None
    (problem,) = problems
    assert problem.path == "worker_pools[0].server_type" and "exists only for x86" in problem.message


def test_lb_type_not_offered_in_location():
    from khz_tui.plan.catalog import Catalog, snapshot_wire

    wire = snapshot_wire()
    for lbt in wire["load_balancer_types"]:
        if lbt["name"] == "lb11":
            lbt["prices"] = [p for p in lbt["prices"] if p["location"] != "hel1"]
    plan, problems = validate_data({"schema_version": 1, "name": "x", "hcloud": {"location": "hel1"}},
                                   Catalog.from_wire(wire))
    assert plan is None and [p.path for p in problems] == ["load_balancer.type"]
    assert "not offered in hel1" in problems[0].message


def test_deprecated_type_still_sold_is_a_warning():
    from khz_tui.plan.catalog import Catalog, snapshot_wire

    wire = snapshot_wire()
    for st in wire["server_types"]:
        if st["name"] == "cx22":
            st["deprecation"]["unavailable_after"] = "2999-01-01T00:00:00Z"
    plan, problems = validate_data({"schema_version": 1, "name": "x", "control_plane": {"server_type": "cx22"}},
                                   Catalog.from_wire(wire))
    assert plan is not None
    (problem,) = problems
    assert problem.severity == "warning" and problem.path == "control_plane.server_type"
    assert "stops being sold after 2999-01-01" in problem.message and "use cx23" in problem.message


# -- JSON Schema and reference ---------------------------------------------------------------------


def test_schema_command_prints_valid_json_schema(capsys):
    assert cli.main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    Draft202012Validator.check_schema(schema)
    assert schema["title"] == "khz-tui cluster plan"
    validator = Draft202012Validator(schema)
    for example in EXAMPLES:
        errors = list(validator.iter_errors(tomllib.loads(example.read_text())))
        assert errors == [], (example.name, errors)
    assert list(validator.iter_errors({"schema_version": 1, "name": "x", "colour": "red"}))
    assert list(validator.iter_errors({"schema_version": 1}))


def test_reference_doc_is_current():
    assert default_path() == ROOT / "docs" / "plan-reference.md"
    assert default_path().read_text(encoding="utf-8") == render_reference(), (
        "docs/plan-reference.md is stale: run `python -m khz_tui.plan.reference`"
    )


def test_reference_mentions_every_field():
    text = render_reference()
    for model in {ClusterPlan, *[f.annotation for f in ClusterPlan.model_fields.values() if isinstance(f.annotation, type)]}:
        if hasattr(model, "model_fields"):
            for name in model.model_fields:
                assert f"| `{name}` |" in text
    assert "`[[worker_pools]]`" in text and "`[[storage.volumes]]`" in text


def test_every_field_is_documented():
    def walk(model, path=""):
        for name, field in model.model_fields.items():
            assert field.description, f"{path}{name} has no description"
            from khz_tui.plan.reference import _section_model

            sub = _section_model(field.annotation)
            if sub is not None:
                walk(sub, f"{path}{name}.")

    walk(ClusterPlan)
    assert plan_json_schema()["properties"]["name"]["description"]
