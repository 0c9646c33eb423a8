"""How an apply schedules its work: how many servers are created at once, when nodes join, how long
each wait may last and how often it looks, how many times a step is tried again.

`DEFAULT_POLICY` is what every apply uses. Another schedule is the same engine run with other values
(the benchmark's naive baseline is one: every server up before any install, workers only after the
whole control plane, one join at a time). Time values are seconds at Hetzner's speed; `scaled` turns
them into seconds on the target's clock (a simulator runs faster), each with a floor under which a
wait or a poll would only spin. Which milestone each part waits for is in `milestones.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum

_FLOOR = "floor"


def _seconds(at_hetzner_speed: float, *, floor: float) -> float:
    """A time value: seconds at time scale 1, never scaled below `floor`."""
    value: float = field(default=at_hetzner_speed, metadata={_FLOOR: floor})
    return value


class WorkerStart(StrEnum):
    """When workers join the cluster."""

    WITH_API = "with-api"
    """As soon as the API answers, alongside the control planes joining."""
    AFTER_CONTROL_PLANE = "after-control-plane"
    """Once every control plane is Ready."""


@dataclass(frozen=True)
class ApplyPolicy:
    """The schedule of one apply: concurrency, join order, retries, deadlines and poll intervals.

    Control planes always join one at a time, once the seed is Ready: etcd admits one learner at once,
    so that is the cluster's rule, not a choice."""

    # -- concurrency and order ------------------------------------------------------------------------
    servers_created_at_once: int = 10
    """Create requests in flight (Hetzner's own tools use 10; more only queues in the API)."""
    installs_wait_for_every_server: bool = False
    """No k3s install starts before every planned server answers SSH."""
    workers_start: WorkerStart = WorkerStart.WITH_API
    workers_joining_at_once: int | None = None
    """Workers installing k3s at the same time; None: all of them."""

    # -- retries --------------------------------------------------------------------------------------
    create_attempts: int = 5
    """Times a server is created when its create action fails (the broken one is deleted in between)."""
    session_retries: int = 5
    """Times a node step is tried again after its SSH connection dropped (a reboot mid-install)."""
    control_plane_join_attempts: int = 8
    """Times a control plane's join is tried while etcd still promotes another server."""

    # -- deadlines ------------------------------------------------------------------------------------
    ssh_deadline: float = _seconds(600.0, floor=5.0)
    """How long a node may take to answer SSH (and to answer again after a drop)."""
    ready_deadline: float = _seconds(900.0, floor=10.0)
    """How long the cluster may take, from the API answering, to report every node Ready."""
    k3s_start_deadline: float = _seconds(300.0, floor=5.0)
    """How long k3s may take to start after a power-on or a restart (etcd waits for its peers)."""
    interface_deadline: float = _seconds(60.0, floor=2.0)
    """How long a node may take to see a network interface attached again (DHCP on the new NIC)."""
    lock_probe_deadline: float = _seconds(30.0, floor=2.0)
    """How long the check for a run that changes nothing waits for a control plane's SSH."""

    # -- poll intervals and pauses --------------------------------------------------------------------
    ssh_retry_interval: float = _seconds(1.0, floor=0.01)
    """The first pause between SSH connection attempts (it grows up to `ssh_max_interval`)."""
    ssh_max_interval: float = _seconds(2.0, floor=0.05)
    """The longest pause between SSH attempts: refused connections are cheap."""
    readiness_poll: float = _seconds(1.0, floor=0.01)
    """Between two `kubectl get nodes` of the readiness watcher."""
    restarted_ready_poll: float = _seconds(1.0, floor=0.05)
    """Between two looks at a restarted control plane's readiness."""
    k3s_start_poll: float = _seconds(2.0, floor=0.05)
    """Between two looks at a starting k3s unit."""
    interface_poll: float = _seconds(2.0, floor=0.05)
    """Between two looks for a network interface attached again."""
    learner_retry_delay: float = _seconds(5.0, floor=0.01)
    """The first pause before a control plane's join is tried again while etcd promotes another."""

    def scaled(self, time_scale: float) -> ApplyPolicy:
        """This policy on a target whose clock runs `time_scale` times Hetzner's (1.0 there): every
        time value multiplied, and kept at or above its floor. Counts and order are unchanged."""
        return replace(self, **{
            f.name: max(f.metadata[_FLOOR], getattr(self, f.name) * time_scale)
            for f in fields(self) if _FLOOR in f.metadata
        })


DEFAULT_POLICY = ApplyPolicy()


class Turns:
    """The policy's limits on work done at the same time, shared by the node tasks of one run."""

    def __init__(self, policy: ApplyPolicy) -> None:
        self.create = asyncio.Semaphore(policy.servers_created_at_once)
        """Held while a server's create request is in flight."""
        self.control_plane_join = asyncio.Lock()
        """Held by the control plane joining now (etcd admits one learner at once)."""
        at_once = policy.workers_joining_at_once
        self._worker_join = asyncio.Semaphore(at_once) if at_once is not None else None

    def worker_join(self) -> AbstractAsyncContextManager[object]:
        """Held by a worker while it installs k3s (no limit unless the policy sets one)."""
        return self._worker_join if self._worker_join is not None else contextlib.nullcontext()
