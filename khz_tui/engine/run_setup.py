"""What one run holds from its first event to its last: the cluster's files on this machine, the run
log, the event bus, the cloud client and the run locks. `open_run` opens them and closes them
whatever happens; `RunSetup.finish` releases the locks and sends RunFinished, which stays the last event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from khz_tui.engine import run_lock
from khz_tui.engine.bus import EventBus
from khz_tui.engine.cloud.client import CloudClient
from khz_tui.engine.cloud.names import planned_nodes
from khz_tui.engine.cloud.node_access import NodeAccess
from khz_tui.engine.cloud.pacing import PollInterval
from khz_tui.engine.cluster_files import ClusterFiles, LocalLockHeld, LocalRunLock, RunLog
from khz_tui.engine.context import Confirm, RunContext
from khz_tui.engine.events import EngineEvent, RunFinished, RunLockRefused, RunLockTaken, RunMode, RunStarted
from khz_tui.engine.options import RunOptions
from khz_tui.engine.outcome import Outcome
from khz_tui.engine.run_ending import Ending, Refused
from khz_tui.plan.model import ClusterPlan

if TYPE_CHECKING:
    from khz_tui.engine.api import EventSink, Target


def poll_interval(scale: float) -> PollInterval:
    """Action polls at the target's clock: 0.5 s to 3 s against Hetzner, shrunk with a simulator's."""
    return PollInterval(minimum=max(0.01, 0.5 * scale), maximum=max(0.05, 3.0 * scale))


class RunSetup:
    """One run's files, log, bus, client and locks (see the module)."""

    def __init__(self, mode: RunMode, plan: ClusterPlan, target: Target, sink: EventSink, state_dir: Path | None) -> None:
        self.mode = mode
        self.target = target
        self.cluster = plan.name
        self.files = ClusterFiles(plan.name, base=state_dir)
        self.log: RunLog = self.files.new_run_log(mode)
        self.sink = sink
        self.bus = EventBus(self._record)
        self.bus.add_secret(target.token)
        self.time_scale = target.time_scale or 1.0
        self.client = CloudClient(target.endpoint, target.token, self.bus.usage, poll=poll_interval(self.time_scale))
        self.nodes_total = len(planned_nodes(plan))
        self.local: LocalRunLock | None = None
        """This machine's run lock, until the run guard takes it over."""
        self.guard: run_lock.RunGuard | None = None

    def _record(self, event: EngineEvent) -> None:
        self.log.write(event)
        self.sink(event)

    def started(self) -> None:
        self.bus.emit(RunStarted(cluster=self.cluster, mode=self.mode, endpoint=self.target.endpoint,
                                 simulated=self.target.simulated, node_count=self.nodes_total))

    def lock_this_machine(self) -> None:
        """Take this machine's run lock of the cluster, before anything else: a second run stops here."""
        try:
            self.local = self.files.lock_run(self.mode)
        except LocalLockHeld as held:
            h = held.holder
            self.bus.emit(RunLockRefused(cluster=self.cluster, scope="local", since=h.since, pid=h.pid, host=h.host))
            raise Refused("locked", str(held), run_lock.local_lock_hint(), outcome=Outcome.LOCKED) from None
        self.bus.emit(RunLockTaken(cluster=self.cluster, scope="local"))

    def follow_clock(self, access: NodeAccess) -> None:
        """An external simulator (`sim serve`) runs its own clock: scale deadlines and polls to it."""
        if access.simulated and self.time_scale == 1.0 and access.time_scale != 1.0:
            self.time_scale = access.time_scale
            self.client.poll = poll_interval(self.time_scale)

    def context(self, plan: ClusterPlan, access: NodeAccess, options: RunOptions, confirm: Confirm | None,
                *, guarded: bool) -> RunContext:
        """The run context the mode works with; a `guarded` run's guard takes this machine's lock over
        (and takes the cloud marker when the run knows it will change something)."""
        ctx = RunContext(plan=plan, client=self.client, bus=self.bus, access=access, files=self.files,
                         options=options, hcloud_token=self.target.token, confirm=confirm,
                         time_scale=self.time_scale)
        if guarded:
            self.guard, self.local = run_lock.RunGuard(ctx, self.mode, self.local), None
        return ctx

    async def release_locks(self) -> None:
        """Drop the run's locks (idempotent). Before RunFinished, also after a failure or Ctrl-C: the
        marker must not outlive the run."""
        guard, local, self.guard, self.local = self.guard, self.local, None, None
        if guard is not None:
            await guard.release()
        elif local is not None:
            local.release()

    async def finish(self, ending: Ending) -> RunFinished:
        """Release the locks, then send RunFinished for `ending`."""
        await self.release_locks()
        return self.bus.emit(RunFinished(
            mode=self.mode, ok=ending.outcome is Outcome.SUCCEEDED, outcome=ending.outcome, message=ending.message,
            failed_step=ending.failed_step, hint=ending.hint, bad_input=ending.outcome is Outcome.BAD_INPUT,
            nodes_ready=ending.nodes_ready, nodes_total=self.nodes_total, api_throttled=self.bus.usage.throttled))


@asynccontextmanager
async def open_run(mode: RunMode, plan: ClusterPlan, target: Target, sink: EventSink,
                   state_dir: Path | None) -> AsyncIterator[RunSetup]:
    """A run's setup for the block; its locks released, its client and log closed after it."""
    setup = RunSetup(mode, plan, target, sink, state_dir)
    try:
        yield setup
    finally:
        try:
            await setup.release_locks()  # a no-op unless the block ended by an exception it let out
        finally:
            setup.client.close()
            setup.log.close()
