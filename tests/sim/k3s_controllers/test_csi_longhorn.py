"""The simulated hcloud CSI driver (csi-driver v2.22.1, khz_tui/sim/k3s/controllers/csi.py) and
Longhorn's manager (controllers/longhorn.py).

CSI: internal/driver/controller.go `CreateVolume` names the volume after the request (the
external-provisioner's `pvc-<PVC uid>`) and labels it `managed-by: csi-driver`; the chart's class
binds WaitForFirstConsumer; `ControllerPublishVolume` attaches it to the consuming pod's node.
Longhorn (longhorn.io, Installation Requirements): "`open-iscsi` is installed, and the `iscsid`
daemon is running on all the nodes"; without iscsiadm longhorn-manager exits with "failed to check
environment, please make sure you have iscsiadm/open-iscsi installed on the host"."""

from __future__ import annotations

from pathlib import Path

import asyncssh
from ctl_helpers import Kube, api, build, get, on_node, server_ids, until

LONGHORN_CHART = ("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: longhorn, namespace: kube-system}\n"
                  "spec: {chart: longhorn, repo: 'https://charts.longhorn.io', version: 1.12.1, "
                  "targetNamespace: longhorn-system, createNamespace: true}\n")


def claim_and_pod(node: str, claim: str = "data", klass: str = "hcloud-volumes") -> str:
    return (f"apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {claim}, namespace: default}}\n"
            f"spec: {{storageClassName: {klass}, accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\n"
            f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: user, namespace: default}}\n"
            f"spec:\n  nodeName: {node}\n  containers: [{{name: app, image: busybox:1.36}}]\n"
            f"  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]\n")


async def test_a_claim_gets_a_pvc_volume_through_the_api_attached_to_its_pods_node(
        sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    await build(make_plan("vol", cp=1, workers=1), sim, tmp_path)
    ids = await server_ids(sim)
    kube = Kube(sim, ssh_keys[0], ids["vol-cp-1"])
    await kube.apply(claim_and_pod("vol-default-1"))
    uid = (await kube.json("get pvc data"))["metadata"]["uid"]

    async def attached():
        volumes = (await get(sim, f"/volumes?name=pvc-{uid}"))["volumes"]
        return volumes if volumes and volumes[0]["server"] == ids["vol-default-1"] else None

    (volume,) = await until(attached, "the claim's volume attached to the pod's node")
    # The driver's own label, plus the chart's `controller.volumeExtraLabels` the engine sets.
    assert volume["labels"] == {"managed-by": "csi-driver", "khz-tui.io/cluster": "vol"} and volume["size"] == 10
    servers = {s["id"]: s for s in (await get(sim, "/servers"))["servers"]}
    assert volume["location"]["name"] == servers[ids["vol-default-1"]]["datacenter"]["location"]["name"]
    claim = await kube.json("get pvc data")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["volumeName"] == f"pvc-{uid}"

    assert (await kube.run("delete pod user")).exit_status == 0

    async def detached():
        (vol,) = (await get(sim, f"/volumes?name=pvc-{uid}"))["volumes"]
        return vol["server"] is None

    await until(detached, "the volume to be detached once no pod uses it")
    assert (await kube.run("delete pvc data")).exit_status == 0

    async def deleted():
        return (await get(sim, f"/volumes?name=pvc-{uid}"))["volumes"] == []

    await until(deleted, "reclaimPolicy Delete to delete the volume")


async def test_a_claim_nobody_uses_stays_pending_and_makes_no_volume(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """WaitForFirstConsumer (templates/core/storageclass.yaml)."""
    await build(make_plan("idle", cp=1, workers=0), sim, tmp_path)
    kube = Kube(sim, ssh_keys[0], (await server_ids(sim))["idle-cp-1"])
    await kube.apply(claim_and_pod("idle-cp-1").split("---")[0])
    await kube.run("get nodes")
    assert (await kube.json("get pvc data"))["status"]["phase"] == "Pending"
    assert (await get(sim, "/volumes"))["volumes"] == []


async def test_longhorn_manager_crash_loops_on_nodes_without_iscsid(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """A plan without Longhorn installs no open-iscsi; a Longhorn chart applied by hand then finds
    no iscsiadm: every manager pod is CrashLoopBackOff with Longhorn's message, and a Longhorn
    claim never binds."""
    await build(make_plan("nol", cp=1, workers=1), sim, tmp_path)
    kube = Kube(sim, ssh_keys[0], (await server_ids(sim))["nol-cp-1"])
    await kube.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: longhorn-system}\n")
    await kube.apply(LONGHORN_CHART)
    pods = (await kube.json("get pods -n longhorn-system"))["items"]
    managers = [p for p in pods if p["metadata"]["name"].startswith("longhorn-manager-")]
    assert len(managers) == 2
    for pod in managers:
        (status,) = pod["status"]["containerStatuses"]
        assert not status["ready"] and status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
        assert "please make sure you have iscsiadm/open-iscsi installed on the host" in status["state"]["waiting"]["message"]
    assert "CrashLoopBackOff" in (await kube.run("get pods -n longhorn-system")).stdout
    await kube.apply(claim_and_pod("nol-default-1", klass="longhorn"))
    assert (await kube.json("get pvc data"))["status"]["phase"] == "Pending"


async def test_longhorn_plan_nodes_run_iscsid_and_its_managers_are_ready(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """Finding 2, engine-built: with Longhorn on, the engine's cloud-init installs open-iscsi and runs
    `systemctl enable --now iscsid`; the managers are Ready and a Longhorn claim binds."""
    await build(make_plan("lh", cp=1, workers=1, storage={"longhorn": True}), sim, tmp_path)
    ids = await server_ids(sim)
    for sid in ids.values():
        done = await on_node(sim, ssh_keys[0], sid, "systemctl is-active iscsid && test -x /usr/sbin/iscsiadm")
        assert done.exit_status == 0, (done.stdout, done.stderr)
    kube = Kube(sim, ssh_keys[0], ids["lh-cp-1"])
    pods = (await kube.json("get pods -n longhorn-system"))["items"]
    assert pods and all(p["status"]["containerStatuses"][0]["ready"] for p in pods)
    await kube.apply(claim_and_pod("lh-default-1", klass="longhorn"))
    assert (await kube.json("get pvc data"))["status"]["phase"] == "Bound"


async def test_cloud_init_packages_and_enable_now_start_iscsid_and_a_reboot_keeps_it(sim, ssh_keys) -> None:
    """cloud-init installs `packages:` before `runcmd`; `systemctl enable --now` starts the unit and
    enables it, so it runs again after a reboot. Without the package the unit does not exist."""
    key = (await get(sim, "/ssh_keys"))["ssh_keys"]
    if not key:
        status, made = await api(sim, "POST", "/ssh_keys", {"name": "k", "public_key": Path(ssh_keys[1]).read_text().strip()})
        assert status == 201, made
        key = [made["ssh_key"]]
    user_data = "#cloud-config\npackages: [open-iscsi, nfs-common]\nruncmd:\n  - systemctl enable --now iscsid\n"
    made = {}
    for name, data in (("with", user_data), ("without", "#cloud-config\nruncmd: ['echo ok']\n")):
        status, body = await api(sim, "POST", "/servers", {"name": name, "server_type": "cpx22", "image": "ubuntu-24.04",
                                                          "location": "fsn1", "ssh_keys": [key[0]["id"]], "user_data": data})
        assert status == 201, body
        made[name] = body["server"]["id"]

    async def finished(sid: int):
        try:
            done = await on_node(sim, ssh_keys[0], sid, "cloud-init status --wait")
        except (OSError, IndexError, asyncssh.Error):
            return None
        return done if done.exit_status == 0 else None

    for sid in made.values():
        await until(lambda sid=sid: finished(sid), "cloud-init to finish")
    assert (await on_node(sim, ssh_keys[0], made["with"], "systemctl is-active iscsid")).stdout == "active\n"
    missing = await on_node(sim, ssh_keys[0], made["without"], "systemctl start iscsid")
    assert missing.exit_status == 5 and "Unit iscsid.service not found" in missing.stderr
    status, _ = await api(sim, "POST", f"/servers/{made['with']}/actions/reboot")
    assert status == 201

    async def active_again():
        try:
            done = await on_node(sim, ssh_keys[0], made["with"], "systemctl is-active iscsid")
        except (OSError, IndexError, asyncssh.Error):
            return None
        return done.stdout == "active\n"

    await until(active_again, "iscsid to start again after the reboot")
