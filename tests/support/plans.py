"""Plan data built around the test's key pair; each suite picks its own default shape."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from khz_tui.plan.model import ClusterPlan


def plan_data(name: str, ssh_keys: tuple[Path, Path], *, cp: int, workers: int, lb: bool,
              **sections: Any) -> dict[str, Any]:
    """`cp` control planes (cpx22), one pool `default` of `workers` (cpx32) when there are any, the API
    load balancer when `lb`; `sections` replace whole plan sections."""
    private, public = ssh_keys
    data: dict[str, Any] = {
        "name": name,
        "ssh": {"public_key": str(public), "private_key": str(private)},
        "control_plane": {"count": cp, "server_type": "cpx22"},
        "worker_pools": [{"name": "default", "count": workers, "server_type": "cpx32"}] if workers else [],
        "load_balancer": {"enabled": lb},
    }
    data.update(sections)
    return data


def plan_file(tmp_path: Path, plan: ClusterPlan) -> Path:
    """`plan` saved as `<name>.toml` under `tmp_path`, for the command line to read."""
    from khz_tui.plan.toml_io import save_plan

    path = tmp_path / f"{plan.name}.toml"
    save_plan(plan, path)
    return path
