"""One run per cluster at a time, for every run that changes it (apply, destroy, scale-down).

Two locks, because two runs can meet in two ways:

- On one machine, the flock on `run.lock` in the cluster's state folder (`ClusterFiles.lock_run`),
  taken by the runner before anything else happens. The OS drops it when the process dies.
- Across machines, a marker in the project itself. Labels have no compare-and-swap, so the marker is
  a resource whose *name* is unique per project: creating `<cluster>-run-lock` either succeeds (this
  run holds the cluster) or fails with `uniqueness_error` (another run does). It is a placement
  group: placement groups cost nothing, are created synchronously (`POST /placement_groups` answers
  with the group and `"action": null`), take no other resource, and nothing lands in an empty one.
  An SSH key would also be free, but the project's keys are offered for every new server in the
  console, and each needs a fresh key pair (keys are unique by fingerprint as well as by name).

The marker carries who holds it, since when and until when in its labels, is renewed in the
background while the run lasts and deleted when it ends (also on failure and Ctrl-C). A run that
finds nothing to change takes no marker, so a no-op rerun still sends no mutating request; a run that
will change something takes it first and then looks at the project again before it acts. A marker
whose holder was killed is taken over once it has expired, or at once with `--force-unlock` after
the person confirms; a rerun from the killed run's own state folder takes it over at once, because
holding that folder's flock proves the marker's run has ended.

The marker does not carry the cluster label (`RUN_LOCK_OF_LABEL` instead): discovery by the
cluster's selector never lists it, so apply does not take it for an unplanned placement group and
destroy does not count it among the cluster's resources; the run that holds it deletes it.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NoReturn

from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.cloud_base import ident
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.cloud.names import LABEL_PREFIX, MANAGED_BY, MANAGED_BY_LABEL, RUN_LOCK_OF_LABEL, run_lock_name
from khz_tui.engine.cluster_files import LocalRunLock, LockHolder, utc_stamp
from khz_tui.engine.context import NotConfirmed, RunContext
from khz_tui.engine.events import FailedStep, LockTakeover, RunLockRefused, RunLockReleased, RunLockTaken, StepFailed
from khz_tui.engine.steps import StepError, step

#: How long a marker stays valid without renewal, at real speed. A killed run blocks the cluster
#: this long at most; a live run renews it RENEWALS_PER_TTL times within it, so one or two failed
#: renewals (a network blip) do not lose it.
TTL = 300.0
#: The floor under a simulator's scaled TTL: a loaded CI machine can stall a process for seconds.
MIN_TTL = 15.0
RENEWALS_PER_TTL = 4
#: Renewals are bounded: a run longer than this loses its marker by expiry (no run comes close).
MAX_RUN_SECONDS = 24 * 3600.0
#: Create attempts when a marker disappears or is taken over between our create and our read.
TAKE_ATTEMPTS = 3
#: Seconds to delete the marker at the end of a run (also a cancelled one) before giving up on it.
RELEASE_TIMEOUT = 30.0
#: `failed_step` of a run refused because another run holds the cluster (exit code 75).
LOCKED_STEP: FailedStep = "locked"

OWNER_LABEL = f"{LABEL_PREFIX}/run-owner"
PID_LABEL = f"{LABEL_PREFIX}/run-pid"
HOST_LABEL = f"{LABEL_PREFIX}/run-host"
STARTED_LABEL = f"{LABEL_PREFIX}/run-started"
EXPIRES_LABEL = f"{LABEL_PREFIX}/run-expires"
MODE_LABEL = f"{LABEL_PREFIX}/run-mode"
STATE_LABEL = f"{LABEL_PREFIX}/run-state"

_STAMP = "%Y%m%dT%H%M%SZ"
_NOT_LABEL_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(text: str) -> str:
    """`text` as a label value: Hetzner allows at most 63 characters, alphanumeric at both ends and
    `-`, `_`, `.` or alphanumerics between. A host name `my host (eu)` becomes `my-host-eu`."""
    value = _NOT_LABEL_CHARS.sub("-", text)[:63].strip("-_.")
    return value or "unknown"


def _stamp(when: float) -> str:
    # ISO 8601 basic form: colons are not allowed in label values.
    return datetime.fromtimestamp(when, UTC).strftime(_STAMP)


def _unstamp(text: str) -> float | None:
    try:
        return datetime.strptime(text, _STAMP).replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Claim:
    """What a marker says: which run holds the cluster, since when, until when."""

    owner: str
    pid: int | None
    host: str
    started: float
    expires: float
    mode: str
    state: str = ""
    """The id of the state folder whose flock the run held (`ClusterFiles.state_id`)."""

    def labels(self, cluster: str) -> dict[str, str]:
        return {
            RUN_LOCK_OF_LABEL: cluster,
            MANAGED_BY_LABEL: MANAGED_BY,
            OWNER_LABEL: self.owner,
            PID_LABEL: str(self.pid or 0),
            HOST_LABEL: label_value(self.host),
            STARTED_LABEL: _stamp(self.started),
            EXPIRES_LABEL: f"{self.expires:.1f}",  # seconds since the epoch, UTC
            MODE_LABEL: label_value(self.mode),
            STATE_LABEL: label_value(self.state),
        }

    @classmethod
    def from_labels(cls, labels: dict[str, str] | None, cluster: str) -> Claim | None:
        """The claim a marker's labels hold; None when the resource is not a run lock of `cluster`."""
        labels = labels or {}
        if labels.get(RUN_LOCK_OF_LABEL) != cluster or labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            return None
        started = _unstamp(labels.get(STARTED_LABEL, ""))
        try:
            expires = float(labels.get(EXPIRES_LABEL, ""))
        except ValueError:
            expires = 0.0  # unreadable: treated as expired, like a marker of a killed run
        pid = labels.get(PID_LABEL, "")
        return cls(owner=labels.get(OWNER_LABEL, ""), pid=int(pid) if pid.isdigit() and pid != "0" else None,
                   host=labels.get(HOST_LABEL, "unknown"), started=started if started is not None else 0.0,
                   expires=expires, mode=labels.get(MODE_LABEL, ""), state=labels.get(STATE_LABEL, ""))

    def holder(self) -> LockHolder:
        since = utc_stamp(self.started) if self.started else "an unknown time"
        return LockHolder(pid=self.pid, host=self.host, since=since, mode=self.mode)

    def expired(self, now: float | None = None) -> bool:
        # Compared with this machine's clock: hosts whose clocks disagree by minutes could take over
        # a live marker early; TTL is generous for that reason.
        return self.expires <= (time.time() if now is None else now)


class RunLocked(StepError):
    """Another run holds the cluster; this one changed nothing. A StepError, so `step()` lets it
    through as it is and the runner reports it with its own step name (`locked`, exit code 75)."""

    def __init__(self, cluster: str, holder: LockHolder, hint: str) -> None:
        super().__init__(LOCKED_STEP, "Taking the cluster's run lock", holder.describe(cluster), hint)
        self.cluster = cluster
        self.holder = holder


def local_lock_hint() -> str:
    return ("wait for that run to finish (it is still running on this machine: a killed run releases "
            "this lock at once), then run the command again")


class CloudMarker:
    """The run's marker in the project: taken once, renewed in the background, deleted at the end."""

    def __init__(self, ctx: RunContext, mode: str, *, local_lock_held: bool) -> None:
        self.ctx = ctx
        self.local_lock_held = local_lock_held
        self.cluster = ctx.plan.name
        self.name = run_lock_name(self.cluster)
        self.mode = mode
        self.ttl = max(MIN_TTL, TTL * ctx.time_scale)
        now = time.time()
        self.claim = Claim(owner=uuid.uuid4().hex, pid=os.getpid(), host=socket.gethostname(), started=now,
                           expires=now + self.ttl, mode=mode, state=ctx.files.state_id)
        self.id: int | None = None
        self._renewal: asyncio.Task[None] | None = None
        self.cloud = Cloud.of(ctx)

    @property
    def held(self) -> bool:
        return self.id is not None

    async def take(self) -> None:
        """Create the marker, or take over an expired one (or any, with --force-unlock once confirmed).

        Raises RunLocked when another live run holds it, NotConfirmed when a takeover was not
        confirmed, StepError when a resource that is not a run lock has the marker's name."""
        took_over: tuple[str, LockTakeover] | None = None
        for _ in range(TAKE_ATTEMPTS):
            self.claim = replace(self.claim, expires=time.time() + self.ttl)
            try:
                marker = await self.cloud.create_run_lock(self.name, self.claim.labels(self.cluster))
            except CloudError as exc:
                if exc.code != "uniqueness_error":
                    raise
                existing = await self.cloud.find_run_lock(self.name, what=f"reading the run lock {self.name}")
                if existing is None:
                    continue  # released between our create and our read: try again
                found = Claim.from_labels(existing.labels, self.cluster)
                if found is None:
                    self._not_a_marker()
                if found.owner == self.claim.owner:  # our own create, whose answer was lost and retried
                    self._held(ident(existing), took_over)
                    return
                took_over = await self._take_over_or_refuse(ident(existing), found)
                continue
            self._held(ident(marker), took_over)
            return
        raise CloudError(f"the run lock {self.name} changed hands {TAKE_ATTEMPTS} times while this run tried to "
                         "take it; another run is starting", code="run_lock_contended",
                         hint="wait for the other run to finish, then run the command again")

    async def _take_over_or_refuse(self, marker_id: int, found: Claim) -> tuple[str, LockTakeover]:
        """Delete a marker that may be taken over and return who held it and why it could be taken; raise
        otherwise."""
        holder = found.holder()
        expired = found.expired()
        # A marker taken under the flock this run now holds belongs to a run that has ended (killed:
        # the OS dropped its flock). Waiting for its expiry would only stall the rerun of a kill -9.
        ended = self.local_lock_held and bool(found.state) and found.state == self.claim.state
        if not (expired or ended):
            if not self.ctx.options.force_unlock:
                self.ctx.bus.emit(RunLockRefused(cluster=self.cluster, scope="cloud", since=holder.since,
                                  pid=holder.pid, host=holder.host, expires=utc_stamp(found.expires)))
                raise RunLocked(self.cluster, holder, hint=(
                    f"wait for that run to finish. If it was killed, its lock expires at {utc_stamp(found.expires)}; "
                    "to take it over at once, run again with --force-unlock (only when you are sure that run no "
                    "longer runs)"))
            question = (f"{holder.describe(self.cluster)}. Take its lock over? Only do this when that run no "
                        "longer runs: two runs changing one cluster at once can break it.")
            if not await self.ctx.confirmed(question):
                raise NotConfirmed(f"taking over the run lock of cluster {self.cluster} was not confirmed; nothing "
                                   "was changed (confirm with --yes)")
        takeover: LockTakeover = "ended" if ended else "expired" if expired else "forced"
        why = {"ended": "left by a run from this machine's state folder that no longer runs", "expired": "expired",
               "forced": "taken over with --force-unlock"}[takeover]
        self.ctx.bus.log(
            f"the run lock of cluster {self.cluster} held since {holder.since} by pid {holder.pid or 'unknown'} on "
            f"host {holder.host} was {why}; this run takes it over", level="warning",
        )
        # By id: a marker someone else created meanwhile has another id and is never deleted here.
        await self.cloud.delete_run_lock(marker_id, what=f"deleting the stale run lock {self.name}")
        return f"pid {holder.pid or 'unknown'} on host {holder.host} since {holder.since}", takeover

    def _not_a_marker(self) -> NoReturn:
        message = (f"a placement group named {self.name} exists that is not khz-tui's run lock of cluster "
                   f"{self.cluster}; khz-tui creates that name to make sure only one run changes the cluster at a time")
        hint = f"rename that placement group (it is not part of cluster {self.cluster}), then run again"
        self.ctx.bus.emit(StepFailed(step="lock", title="Taking the cluster's run lock", message=message, hint=hint))
        raise StepError("lock", "Taking the cluster's run lock", message, hint, bad_input=True)

    def _held(self, marker_id: int, took_over: tuple[str, LockTakeover] | None) -> None:
        self.id = marker_id
        holder, takeover = took_over or ("", None)
        self.ctx.bus.emit(RunLockTaken(cluster=self.cluster, scope="cloud", expires=utc_stamp(self.claim.expires),
                          took_over=holder, takeover=takeover))
        self._renewal = asyncio.create_task(self._renew(), name="run-lock-renewal")

    async def _renew(self) -> None:
        """Push the expiry forward while the run lasts (bounded by MAX_RUN_SECONDS)."""
        bus = self.ctx.bus
        interval = self.ttl / RENEWALS_PER_TTL
        for _ in range(int(MAX_RUN_SECONDS / interval)):
            await asyncio.sleep(interval)
            if self.id is None:
                return
            claim = replace(self.claim, expires=time.time() + self.ttl)
            try:
                await self.cloud.renew_run_lock(self.id, self.name, claim.labels(self.cluster))
            except CloudError as exc:
                if exc.not_found:
                    bus.log(f"the run lock {self.name} was deleted or taken over by another run (--force-unlock); "
                            "this run no longer holds the cluster", level="warning")
                    self.id = None
                    return
                bus.log(f"could not renew the run lock {self.name}: {exc.message}; trying again", level="warning")
                continue
            self.claim = claim

    async def release(self) -> None:
        """Stop renewing and delete the marker (gone already is fine); bounded by RELEASE_TIMEOUT."""
        if self._renewal is not None:
            self._renewal.cancel()
            await asyncio.gather(self._renewal, return_exceptions=True)
            self._renewal = None
        marker_id, self.id = self.id, None
        if marker_id is None:
            return
        try:
            await asyncio.wait_for(self.cloud.delete_run_lock(marker_id, what=f"deleting the run lock {self.name}"),
                                   RELEASE_TIMEOUT)
        except CloudError as exc:
            self._left_behind(exc.message)
            return
        except TimeoutError:
            self._left_behind("the API did not answer")
            return
        self.ctx.bus.emit(RunLockReleased(cluster=self.cluster, scope="cloud"))

    def _left_behind(self, why: str) -> None:
        self.ctx.bus.log(f"could not delete the run lock {self.name} ({why}); it expires at "
                         f"{utc_stamp(self.claim.expires)}, or the next run takes it over with --force-unlock",
                         level="warning")


async def marker_left(ctx: RunContext) -> bool:
    """Whether the project holds a run-lock marker of the cluster (one GET): a destroy that finds
    nothing else still removes it, taking it over like any other run would."""
    existing = await Cloud.of(ctx).find_run_lock(run_lock_name(ctx.plan.name), what="looking for the cluster's run lock")
    return existing is not None and Claim.from_labels(existing.labels, ctx.plan.name) is not None


class RunGuard:
    """A changing run's hold on its cluster: this machine's lock for the whole run, and the cloud
    marker from the moment the run knows it will change something."""

    def __init__(self, ctx: RunContext, mode: str, local: LocalRunLock | None) -> None:
        self.ctx = ctx
        self.local = local
        self.marker = CloudMarker(ctx, mode, local_lock_held=local is not None)

    @property
    def holds_cloud(self) -> bool:
        return self.marker.held

    async def before_changes(self) -> bool:
        """Take the cloud marker unless held; True when it was taken now (the caller then looks at
        the project again before it acts). Raises RunLocked when another run holds the cluster."""
        if self.marker.held:
            return False
        async with step(self.ctx.bus, "lock", "Making sure no other run changes this cluster"):
            await self.marker.take()
        return True

    async def release(self) -> None:
        """Delete the marker, then drop the local lock (idempotent)."""
        try:
            await self.marker.release()
        finally:
            if self.local is not None:
                self.local.release()
                self.ctx.bus.emit(RunLockReleased(cluster=self.marker.cluster, scope="local"))
                self.local = None


#: The guard of the run in progress, set by the runner around the mode, so the apply flow can take
#: the marker at the moment it knows it will change something (None outside a runner, e.g. in tests
#: that drive the flow directly: no lock is taken then).
CURRENT: ContextVar[RunGuard | None] = ContextVar("khz_run_guard", default=None)


def current() -> RunGuard | None:
    return CURRENT.get()
