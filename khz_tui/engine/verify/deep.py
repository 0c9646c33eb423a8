"""`verify --deep`: checks that make the cluster's controllers create billed resources at Hetzner,
and remove them again.

- load-balancer (when the cloud controller serves LoadBalancer Services): a throwaway Service of type
  LoadBalancer gets an address from the cloud controller, which creates a Hetzner load balancer
  labelled `hcloud-ccm/service-uid=<uid>`, and so do the add-ons' own LoadBalancer Services (the
  ingress's); the throwaway Service is deleted and its load balancer's removal confirmed through the API.
- volume-<class> (for the CSI driver's class and Longhorn's): a throwaway 1Gi claim and a pod that
  mounts it; the claim binds and the pod runs (for the CSI driver: its `pvc-<uid>` volume is attached
  to the pod's node at Hetzner); both are deleted and the volume's removal confirmed.

Every wait is bounded; a `SyncLoadBalancerFailed` or `ProvisioningFailed` event ends one at once with
the controller's own message. khz-tui itself sends no changing request to Hetzner here: the
controllers in the cluster do, with the cluster's token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import yaml
from hcloud.load_balancers.client import BoundLoadBalancer
from hcloud.volumes.client import BoundVolume

from khz_tui.engine.cloud.addon_resources import CCM_SERVICE_UID_LABEL
from khz_tui.engine.cloud.client import CloudError
from khz_tui.engine.cloud.facade import Cloud
from khz_tui.engine.events import VerifyWillCreate
from khz_tui.engine.nodes.session import NodeError
from khz_tui.engine.verify.checks import DNS_IMAGE, addon_namespaces, unanswered
from khz_tui.engine.verify.model import CheckResult, Verification
from khz_tui.engine.verify.shell import ClusterShell, ClusterUnanswered
from khz_tui.plan.model import ClusterPlan

T = TypeVar("T")

NAMESPACE = "default"
SERVICE = "khz-verify-lb"
CLAIM = "khz-verify-pvc"
#: Seconds (at time scale 1) for a controller to make (or remove) what it was asked for; pause between looks.
CREATE_DEADLINE = 300.0
REMOVE_DEADLINE = 180.0
POLL = 3.0
LABELS = {"app.kubernetes.io/managed-by": "khz-tui", "app.kubernetes.io/name": "khz-verify"}


def hetzner_load_balancers(plan: ClusterPlan) -> bool:
    return plan.addons.cloud_controller and plan.addons.service_load_balancer == "hetzner"


def storage_classes(plan: ClusterPlan) -> list[str]:
    return (["hcloud-volumes"] if plan.storage.hcloud_csi else []) + (["longhorn"] if plan.storage.longhorn else [])


def claim_name(klass: str) -> str:
    return f"{CLAIM}-{klass}"


def planned_resources(v: Verification) -> list[str]:
    """What --deep will create, in words (said before anything is created)."""
    plan = v.ctx.plan
    out = []
    if hetzner_load_balancers(plan):
        out.append(f"Service {NAMESPACE}/{SERVICE} of type LoadBalancer, for which the cloud controller creates a "
                   f"Hetzner load balancer {plan.name}-verify (billed while it exists)")
    for klass in storage_classes(plan):
        what = ("a Hetzner volume of 10 GB, the smallest, attached to the pod's node (billed while it exists)"
                if klass == "hcloud-volumes" else "a Longhorn volume on the nodes' disks")
        out.append(f"PersistentVolumeClaim {NAMESPACE}/{claim_name(klass)} (1Gi, class {klass}) and a busybox pod "
                   f"mounting it, for which the {'CSI driver creates ' if klass == 'hcloud-volumes' else 'cluster makes '}"
                   f"{what}")
    return out


def _service_manifest(plan: ClusterPlan) -> str:
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE, "namespace": NAMESPACE, "labels": dict(LABELS),
                     "annotations": {"load-balancer.hetzner.cloud/name": f"{plan.name}-verify"}},
        "spec": {"type": "LoadBalancer", "selector": {"app.kubernetes.io/name": "khz-verify-nothing"},
                 "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]},
    }, sort_keys=False)


def _claim_manifest(klass: str) -> str:
    name = claim_name(klass)
    return yaml.safe_dump_all([
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)},
         "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": klass,
                  "resources": {"requests": {"storage": "1Gi"}}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": name, "namespace": NAMESPACE, "labels": dict(LABELS)},
         "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                  "containers": [{"name": "holder", "image": DNS_IMAGE, "command": ["sleep", "3600"],
                                  "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                  "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}]}},
    ], sort_keys=False)


async def _apply(shell: ClusterShell, manifest: str) -> None:
    result = await shell.kubectl("apply -f -", stdin=manifest, timeout=120)
    if result.exit_status != 0:
        raise ClusterUnanswered(f"`k3s kubectl apply` on {shell.node} failed: "
                                f"{(result.stderr or result.stdout).strip()[:300]}")


async def _failure_event(shell: ClusterShell, name: str, reasons: tuple[str, ...]) -> str | None:
    """The message of the latest Warning event about `name` with one of `reasons`, if any."""
    events = [e for e in await shell.items(f"get events -n {NAMESPACE}")
              if (e.get("involvedObject") or {}).get("name") == name and e.get("reason") in reasons]
    return f"{events[-1].get('reason')}: {events[-1].get('message', '')}" if events else None


async def _until(v: Verification, deadline: float, look: Callable[[], Awaitable[T]]) -> T:
    """`look()` every POLL seconds until it returns something truthy or `deadline` passes (then its last,
    falsy answer)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + v.ctx.scaled(deadline, floor=2.0)
    while True:
        found = await look()
        if found or loop.time() >= end:
            return found
        await asyncio.sleep(v.ctx.scaled(POLL))


async def _ccm_load_balancers(v: Verification, uid: str) -> list[BoundLoadBalancer]:
    return await Cloud.of(v.ctx).load_balancers(f"{CCM_SERVICE_UID_LABEL}={uid}")


async def _addon_services(v: Verification, shell: ClusterShell) -> tuple[list[str], list[str]]:
    """(`ns/name: address` of the add-ons' LoadBalancer Services that have one, `ns/name` of those without)."""
    namespaces = addon_namespaces(v)
    served, pending = [], []
    for svc in await shell.items("get services --all-namespaces"):
        meta = svc.get("metadata") or {}
        if meta.get("namespace") not in namespaces or (svc.get("spec") or {}).get("type") != "LoadBalancer":
            continue
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        name = f"{meta.get('namespace')}/{meta.get('name')}"
        if ingress:
            served.append(f"{name}: {ingress[0].get('ip') or ingress[0].get('hostname')}")
        else:
            pending.append(name)
    return served, pending


async def _addons_served(v: Verification, shell: ClusterShell, result: CheckResult) -> CheckResult:
    """`result` of the throwaway Service, extended with (or failed on) the add-ons' LoadBalancer Services."""

    async def all_served() -> bool | None:
        _served, pending = await _addon_services(v, shell)
        return None if pending else True

    if await _until(v, CREATE_DEADLINE, all_served) is None:
        served, pending = await _addon_services(v, shell)
        said = []
        for name in pending:
            ns, _, svc = name.partition("/")
            events = [e for e in await shell.items(f"get events -n {ns}")
                      if (e.get("involvedObject") or {}).get("name") == svc and e.get("reason") == "SyncLoadBalancerFailed"]
            said.append(f"{name}" + (f" (the cloud controller says: {events[-1].get('message', '')})" if events else ""))
        before = f"{result.detail}; " if not result.ok else ""
        return CheckResult(result.check, result.title, "fail",
                           f"{before}the add-ons' LoadBalancer Service(s) have no address: " + "; ".join(said),
                           result.hint or "the cloud controller retries with a growing pause after an API error; "
                           "`kubectl -n kube-system logs deploy/hcloud-cloud-controller-manager` says more")
    served, _ = await _addon_services(v, shell)
    if result.ok and served:
        return CheckResult(result.check, result.title, result.status,
                           f"{result.detail}; the add-ons' too ({', '.join(served)})", result.hint)
    return result


async def check_load_balancer(v: Verification) -> list[CheckResult]:
    title = "A LoadBalancer Service gets a Hetzner load balancer"
    shell = v.shell
    if shell is None:
        return [unanswered("load-balancer", title, v)]
    uid = ""
    try:
        await _apply(shell, _service_manifest(v.ctx.plan))

        async def address() -> str | None:
            svc = await shell.json(f"get service {SERVICE} -n {NAMESPACE}")
            nonlocal uid
            uid = str((svc.get("metadata") or {}).get("uid") or "")
            ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
            if ingress:
                return ", ".join(str(i.get("ip") or i.get("hostname")) for i in ingress)
            return None  # a failure event may be passing (the controller retries): waited out, then shown

        got = await _until(v, CREATE_DEADLINE, address)
        if got:
            made = await _ccm_load_balancers(v, uid) if uid else []
            result = CheckResult("load-balancer", title, "pass",
                                 f"Service {NAMESPACE}/{SERVICE} got {got}"
                                 + (f" from load balancer {made[0].name}" if made else ""))
        else:
            failed = await _failure_event(shell, SERVICE, ("SyncLoadBalancerFailed",))
            result = CheckResult(
                "load-balancer", title, "fail",
                f"Service {NAMESPACE}/{SERVICE} got no address within {v.ctx.scaled(CREATE_DEADLINE, floor=2.0):.0f}s"
                + (f"; the cloud controller says {failed}" if failed else ""),
                "the cloud controller needs a location or network zone (HCLOUD_LOAD_BALANCERS_LOCATION), the "
                "network and a token that may create load balancers: `kubectl -n kube-system logs "
                "deploy/hcloud-cloud-controller-manager` says more")
        result = await _addons_served(v, shell, result)
    except (ClusterUnanswered, NodeError, CloudError) as exc:
        result = CheckResult("load-balancer", title, "fail", f"could not finish: {exc}", ASK_AGAIN)
    return [result, await _remove_service(v, shell, uid)]


ASK_AGAIN = "run verify --deep again; what it made is removed first"


async def _remove_service(v: Verification, shell: ClusterShell, uid: str) -> CheckResult:
    title = "The throwaway load balancer is removed"
    try:
        await shell.kubectl(f"delete service {SERVICE} -n {NAMESPACE} --ignore-not-found --wait=false", timeout=60)
        if not uid:
            return CheckResult("cleanup-load-balancer", title, "pass", f"Service {NAMESPACE}/{SERVICE} deleted")

        async def gone() -> bool:
            return not await _ccm_load_balancers(v, uid)

        if await _until(v, REMOVE_DEADLINE, gone):
            return CheckResult("cleanup-load-balancer", title, "pass",
                               f"Service {NAMESPACE}/{SERVICE} deleted; the cloud controller deleted its load balancer")
        left = ", ".join(f"{lb.name} (id {lb.id})" for lb in await _ccm_load_balancers(v, uid))
    except (NodeError, CloudError) as exc:
        left = f"unknown ({exc})"
    return CheckResult("cleanup-load-balancer", title, "fail",
                       f"load balancer {left} of Service {NAMESPACE}/{SERVICE} is still there",
                       "delete it (`hcloud load-balancer delete NAME`); `khz-tui --destroy` also sweeps it")


async def _csi_volume(v: Verification, uid: str) -> BoundVolume | None:
    return await Cloud.of(v.ctx).volume_named(f"pvc-{uid}")


async def check_volume(v: Verification, klass: str) -> list[CheckResult]:
    check, name = f"volume-{klass}", claim_name(klass)
    title = f"A volume claim of class {klass} binds and attaches"
    shell = v.shell
    if shell is None:
        return [unanswered(check, title, v)]
    uid = ""
    try:
        await _apply(shell, _claim_manifest(klass))

        async def bound() -> str | None:
            nonlocal uid
            claim = await shell.json(f"get pvc {name} -n {NAMESPACE}")
            pod = await shell.json(f"get pod {name} -n {NAMESPACE}")
            uid = str((claim.get("metadata") or {}).get("uid") or "")
            running = (pod.get("status") or {}).get("phase") == "Running"
            if (claim.get("status") or {}).get("phase") == "Bound" and running:
                node = str((pod.get("spec") or {}).get("nodeName") or "")
                if klass != "hcloud-volumes":
                    return f"bound, mounted by a pod on {node}"
                volume = await _csi_volume(v, uid)
                if volume is not None and volume.server is not None:
                    return f"bound; Hetzner volume {volume.name} ({volume.size} GB) attached to {node}"
            return None

        got = await _until(v, CREATE_DEADLINE, bound)
        if got:
            result = CheckResult(check, title, "pass", f"claim {NAMESPACE}/{name}: {got}")
        else:
            failed = await _failure_event(shell, name, ("ProvisioningFailed", "FailedAttachVolume", "FailedMount"))
            claim = await shell.json(f"get pvc {name} -n {NAMESPACE}")
            phase = (claim.get("status") or {}).get("phase", "?")
            hint = ("the CSI driver needs the hcloud Secret's token and a node in a location with volumes: "
                    "`kubectl -n kube-system logs deploy/hcloud-csi-controller` says more"
                    if klass == "hcloud-volumes" else
                    "Longhorn's manager must run on the pod's node, which needs open-iscsi and iscsid: "
                    "`kubectl -n longhorn-system get pods -o wide` shows which are not ready")
            result = CheckResult(check, title, "fail",
                                 f"claim {NAMESPACE}/{name} is {phase} after "
                                 f"{v.ctx.scaled(CREATE_DEADLINE, floor=2.0):.0f}s"
                                 + (f"; {failed}" if failed else ""), hint)
    except (ClusterUnanswered, NodeError, CloudError) as exc:
        result = CheckResult(check, title, "fail", f"could not finish: {exc}", ASK_AGAIN)
    return [result, await _remove_claim(v, shell, klass, uid)]


async def _remove_claim(v: Verification, shell: ClusterShell, klass: str, uid: str) -> CheckResult:
    name, check = claim_name(klass), f"cleanup-volume-{klass}"
    title = f"The throwaway {klass} volume is removed"
    try:
        # The pod first: a claim in use is kept until its pod is gone.
        await shell.kubectl(f"delete pod {name} -n {NAMESPACE} --ignore-not-found --wait=false --grace-period=0",
                            timeout=60)
        await shell.kubectl(f"delete pvc {name} -n {NAMESPACE} --ignore-not-found --wait=false", timeout=60)
        if klass != "hcloud-volumes" or not uid:
            return CheckResult(check, title, "pass", f"pod and claim {NAMESPACE}/{name} deleted")

        async def gone() -> bool:
            return await _csi_volume(v, uid) is None

        if await _until(v, REMOVE_DEADLINE, gone):
            return CheckResult(check, title, "pass",
                               f"pod and claim {NAMESPACE}/{name} deleted; the CSI driver deleted volume pvc-{uid}")
        left = f"pvc-{uid}"
    except (NodeError, CloudError) as exc:
        left = f"pvc-{uid} (unknown: {exc})"
    return CheckResult(check, title, "fail", f"volume {left} of claim {NAMESPACE}/{name} is still there",
                       "detach and delete it (`hcloud volume detach NAME`, `hcloud volume delete NAME`); "
                       "`khz-tui --destroy` also sweeps it")


async def deep_checks(v: Verification, emit: Callable[[CheckResult], CheckResult]) -> list[CheckResult]:
    """Say what will be created, then run each deep check (each removes what it made), handing each
    answer to `emit` as it comes."""
    planned = planned_resources(v)
    if not planned:
        return [emit(CheckResult("deep", "Checks that create billed resources", "skipped",
                                 "the plan has neither the cloud controller's load balancers nor a volume driver"))]
    v.ctx.bus.emit(VerifyWillCreate(resources=planned,
                   note="verify --deep creates these now and removes them when its checks are done"))
    results: list[CheckResult] = []
    if hetzner_load_balancers(v.ctx.plan):
        results += [emit(r) for r in await check_load_balancer(v)]
    else:
        results.append(emit(CheckResult("load-balancer", "A LoadBalancer Service gets a Hetzner load balancer",
                                        "skipped", "the plan serves LoadBalancer Services with Klipper (no Hetzner "
                                                   "load balancer)")))
    for klass in storage_classes(v.ctx.plan):
        results += [emit(r) for r in await check_volume(v, klass)]
    return results
