"""A read-only token through the public CLI: `khz-tui --apply PLAN --endpoint URL` stops with exit 2 and
says what to do, instead of a generic failure.

Spec ("Error Codes"): `401 token_readonly`: "The token is only allowed to perform GET requests."
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from khz_tui import cli
from khz_tui.engine.cloud.pacing import error_hint, is_bad_credentials, is_retryable
from khz_tui.sim.simulator import SimulatorThread, recording_node_host

READ_ONLY = "a-read-only-token"


def write_plan(tmp_path: Path, ssh_keys: tuple[Path, Path]) -> Path:
    private, public = ssh_keys
    path = tmp_path / "ro.toml"
    path.write_text(
        f'schema_version = 1\nname = "ro"\n\n[ssh]\npublic_key = "{public}"\nprivate_key = "{private}"\n'
        '\n[control_plane]\ncount = 1\n\n[load_balancer]\nenabled = false\n'
    )
    return path


def test_token_readonly_has_its_own_hint() -> None:
    hint = error_hint("token_readonly")
    assert "read-only" in hint and "Read & Write token" in hint and "Hetzner Console" in hint
    assert is_bad_credentials("token_readonly") and not is_retryable("token_readonly")


def test_apply_with_a_read_only_token_exits_2_with_the_hint(tmp_path, ssh_keys, monkeypatch, capsys) -> None:
    with SimulatorThread(time_scale=0.02, seed=2, node_host_factory=recording_node_host,
                         read_only_token=READ_ONLY) as sim:
        monkeypatch.setenv("HCLOUD_TOKEN", READ_ONLY)
        code = cli.main(["--apply", str(write_plan(tmp_path, ssh_keys)), "--endpoint", sim.endpoint])
        text = capsys.readouterr()
        everything = text.out + text.err
        assert code == 2, everything
        assert "read-only" in everything and "Read & Write token" in everything and "Hetzner Console" in everything
        # The run stopped at its first change, which the API refused: nothing exists in the project.
        headers = {"Authorization": f"Bearer {sim.token}"}
        for kind in ("ssh_keys", "networks", "firewalls", "servers", "placement_groups"):
            listed = requests.get(f"{sim.endpoint}/{kind}", headers=headers, timeout=5).json()[kind]
            assert listed == [], kind


@pytest.mark.parametrize("code", ["unauthorized", 401])
def test_other_credential_codes_stay_bad_credentials(code) -> None:
    assert is_bad_credentials(code)
    assert not is_bad_credentials("forbidden") and "read-only" not in error_hint("forbidden")
