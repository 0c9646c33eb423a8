"""The Hetzner CSI driver's controller (with the CSI sidecars' part), as the simulated k3s runs it.

Read from hetznercloud/csi-driver at tag v2.22.1 (commit 3186e7878603), chart 2.22.1:

- chart/values.yaml: the controller's token comes from Secret `controller.hcloudToken.existingSecret`
  (default `hcloud`, key `token`); `storageClasses` default to one class `hcloud-volumes`;
  templates/core/storageclass.yaml: provisioner `csi.hetzner.cloud`, `volumeBindingMode:
  WaitForFirstConsumer`, `reclaimPolicy` from the values.
- internal/driver/controller.go `CreateVolume`: the volume is named after the request, which the
  external-provisioner makes `pvc-<PVC uid>`; it is labelled `managed-by: csi-driver` plus
  `controller.volumeExtraLabels`; its location is the one of the topology the scheduler chose
  (the node of the first consumer); sizes round up to whole GB, at least 10 (driver.go MinVolumeSize).
  `ControllerPublishVolume` attaches it to the node's server (`hcloud://ID` node id);
  `DeleteVolume` deletes it (a still attached volume fails with FailedPrecondition).

The external-attacher detaches a volume once no pod on that node uses it; with `reclaimPolicy:
Delete` the external-provisioner deletes the volume after its claim is gone.
"""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from khz_tui.sim.k3s import objects
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.charts import chart_values, target_namespace
from khz_tui.sim.k3s.controllers.hcloud_api import HcloudApi, HcloudError

CSI_VERSION = "v2.22.1"
CHART = "hcloud-csi"
USER_AGENT = f"csi-driver/{CSI_VERSION}"
PROVISIONER = "csi.hetzner.cloud"
MIN_VOLUME_GB = 10
RETRY_MIN_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
_DEFAULT_CLASSES = [{"name": "hcloud-volumes", "defaultStorageClass": True, "reclaimPolicy": "Delete"}]
_UNITS = {"": 1e-9, "k": 1e-6, "M": 1e-3, "G": 1.0, "T": 1e3, "Ki": 2**10 / 1e9, "Mi": 2**20 / 1e9,
          "Gi": 2**30 / 1e9, "Ti": 2**40 / 1e9}


def storage_classes(cluster: Cluster) -> dict[str, dict[str, Any]] | None:
    """name -> class values of the driver's StorageClasses, or None when the chart is not applied."""
    values = chart_values(cluster, CHART)
    if values is None:
        return None
    classes = values.get("storageClasses")
    classes = _DEFAULT_CLASSES if classes is None else classes
    return {str(c.get("name")): c for c in classes if isinstance(c, dict) and c.get("name")}


def size_gb(quantity: str) -> int:
    """A storage request in whole GB, rounded up, at least MIN_VOLUME_GB."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([kMGT]i?)?", str(quantity).strip())
    if not m:
        return MIN_VOLUME_GB
    return max(MIN_VOLUME_GB, math.ceil(float(m.group(1)) * _UNITS[m.group(2) or ""]))


def claim_uid(cluster: Cluster, claim: dict[str, Any]) -> str:
    """The claim's uid (the API server's, or the simulator's stable one for an old applied object)."""
    meta = claim["metadata"]
    return str(meta.get("uid") or objects.stable_uid(cluster, "PersistentVolumeClaim", meta.get("namespace", ""), meta["name"]))


def consumers(cluster: Cluster, namespace: str, name: str) -> list[str]:
    """Nodes of the scheduled pods that mount this claim."""
    nodes = []
    for pod in objects.objects_of(cluster, "Pod", namespace):
        volumes = (pod.get("spec") or {}).get("volumes") or []
        if any((v.get("persistentVolumeClaim") or {}).get("claimName") == name for v in volumes):
            node = (pod.get("spec") or {}).get("nodeName")
            if node and (pod.get("status") or {}).get("phase") == "Running":
                nodes.append(str(node))
    return nodes


class CsiController:
    """Provision, attach, detach and delete hcloud volumes for one cluster's claims."""

    def __init__(self, cluster: Cluster, endpoint: str, time_scale: float) -> None:
        self.cluster = cluster
        self.endpoint = endpoint
        self.time_scale = time_scale
        self._retry: dict[str, tuple[float, float]] = {}

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _due(self, key: str) -> bool:
        return self._now() >= self._retry.get(key, (0.0, 0.0))[0]

    def _failed(self, key: str) -> None:
        _, backoff = self._retry.get(key, (0.0, 0.0))
        backoff = min(RETRY_MAX_SECONDS, backoff * 2 if backoff else RETRY_MIN_SECONDS)
        self._retry[key] = (self._now() + backoff * self.time_scale, backoff)

    def _token(self, values: dict[str, Any]) -> str | None:
        token = (values.get("controller") or {}).get("hcloudToken") or {}
        if token.get("value"):
            return str(token["value"])
        ref = token.get("existingSecret") or {"name": "hcloud", "key": "token"}
        return self.cluster.secret_value(target_namespace(self.cluster, CHART), str(ref.get("name", "hcloud")),
                                         str(ref.get("key", "token")))

    async def reconcile(self) -> None:
        """One pass over every claim of the driver's classes and every volume it made."""
        cluster = self.cluster
        classes = storage_classes(cluster)
        if classes is None or not any(n.running for n in cluster.nodes.values()):
            return
        values = chart_values(cluster, CHART) or {}
        token = self._token(values)
        if not token:
            return  # the controller pod cannot start (CreateContainerConfigError)
        api = HcloudApi(self.endpoint, token, USER_AGENT, self.time_scale)
        extra = dict((values.get("controller") or {}).get("volumeExtraLabels") or {})
        live: set[str] = set()
        for claim in objects.objects_of(cluster, "PersistentVolumeClaim", None):
            klass = str((claim.get("spec") or {}).get("storageClassName") or "")
            if klass not in classes:
                continue
            uid = claim_uid(cluster, claim)
            live.add(uid)
            if self._due(uid):
                await self._claim(api, claim, uid, extra)
        for uid in [u for u in cluster.volumes if u not in live]:
            if self._due(uid):
                await self._released(api, uid, classes)

    def _event(self, claim: dict[str, Any], uid: str, kind: str, reason: str, message: str) -> None:
        meta = claim["metadata"]
        self.cluster.record_event({"kind": "PersistentVolumeClaim", "namespace": meta.get("namespace", ""),
                                   "name": meta["name"], "uid": uid}, kind, reason, message,
                                  f"{PROVISIONER}_external-provisioner")

    async def _claim(self, api: HcloudApi, claim: dict[str, Any], uid: str, extra: dict[str, str]) -> None:
        meta = claim["metadata"]
        nodes = consumers(self.cluster, meta.get("namespace", ""), meta["name"])
        record = self.cluster.volumes.get(uid)
        try:
            if record is None:
                if not nodes:
                    return  # WaitForFirstConsumer: nothing is provisioned before a pod is scheduled
                node = self.cluster.nodes.get(nodes[0])
                if node is None:
                    return
                size = (((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage", "")
                answer = await api.call("POST", "/volumes", {
                    "name": f"pvc-{uid}", "size": size_gb(str(size)), "location": node.location,
                    "labels": {"managed-by": "csi-driver", **extra}})
                await api.wait(answer.get("action"))
                record = {"id": answer["volume"]["id"], "server": None, "claim": [meta.get("namespace", ""), meta["name"]],
                          "class": str((claim.get("spec") or {}).get("storageClassName") or "")}
                self.cluster.volumes[uid] = record
                self._event(claim, uid, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume pvc-{uid}")
            holder = self.cluster.nodes.get(nodes[0]) if nodes else None
            wanted = holder.server_id if holder is not None else None
            if record["server"] is not None and record["server"] != wanted:
                await self._detach(api, record)
            if wanted is not None and record["server"] is None:
                answer = await api.call("POST", f"/volumes/{record['id']}/actions/attach",
                                        {"server": wanted, "automount": False})
                await api.wait(answer.get("action"))
                record["server"] = wanted
        except HcloudError as exc:
            self._event(claim, uid, "Warning", "ProvisioningFailed",
                        f"failed to provision volume with StorageClass: rpc error: {exc.message}")
            self._failed(uid)
            return
        self._retry.pop(uid, None)

    async def _detach(self, api: HcloudApi, record: dict[str, Any]) -> None:
        try:
            answer = await api.call("POST", f"/volumes/{record['id']}/actions/detach", {})
            await api.wait(answer.get("action"))
        except HcloudError as exc:
            if exc.code not in ("not_found",):
                raise
        record["server"] = None

    async def _released(self, api: HcloudApi, uid: str, classes: dict[str, dict[str, Any]]) -> None:
        """The claim is gone: detach, then delete the volume unless its class retains volumes."""
        record = self.cluster.volumes[uid]
        try:
            if record["server"] is not None:
                await self._detach(api, record)
            if str((classes.get(str(record.get("class"))) or {}).get("reclaimPolicy", "Delete")) == "Delete":
                await api.call("DELETE", f"/volumes/{record['id']}")
        except HcloudError as exc:
            if exc.code != "not_found":
                self._failed(uid)
                return
        self.cluster.volumes.pop(uid, None)
        self._retry.pop(uid, None)
