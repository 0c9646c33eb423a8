"""The simulated hcloud cloud controller manager (hcloud-cloud-controller-manager v1.35.0, read in
khz_tui/sim/k3s/controllers/ccm.py): it reads the `hcloud` Secret and the chart's values the engine
applied, and makes each LoadBalancer Service's load balancer through the simulator's HTTP API with
that token. Sources quoted in the tests: internal/hcops/load_balancer.go (`Create`: "neither
load-balancer.hetzner.cloud/location nor load-balancer.hetzner.cloud/network-zone set"; label
`hcloud-ccm/service-uid`), internal/config/config.go (HCLOUD_LOAD_BALANCERS_ENABLED)."""

from __future__ import annotations

from pathlib import Path

from ctl_helpers import READ_ONLY_TOKEN, Kube, build, get, ingress_ips, server_ids, until

NEITHER = ("neither load-balancer.hetzner.cloud/location nor load-balancer.hetzner.cloud/network-zone set")


def ccm_chart(env: dict[str, str]) -> str:
    """A hand-written CCM HelmChart (the networks variant) with these env values."""
    lines = "".join(f"        {k}:\n          value: \"{v}\"\n" for k, v in env.items())
    return ("apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: hcloud-cloud-controller-manager\n"
            "  namespace: kube-system\nspec:\n  chart: hcloud-cloud-controller-manager\n"
            "  repo: https://charts.hetzner.cloud\n  version: 1.35.0\n  targetNamespace: kube-system\n"
            "  bootstrap: true\n  valuesContent: |-\n    networking:\n      enabled: true\n"
            + ("    env:\n" + lines if env else ""))


def service(name: str, annotations: dict[str, str] | None = None) -> str:
    notes = "".join(f"    {k}: \"{v}\"\n" for k, v in (annotations or {}).items())
    return (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: default\n"
            + ("  annotations:\n" + notes if notes else "")
            + "spec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports:\n  - {name: http, port: 80, protocol: TCP}\n")


async def lbs_labelled(sim, uid: str) -> list[dict]:
    return (await get(sim, f"/load_balancers?label_selector=hcloud-ccm/service-uid={uid}"))["load_balancers"]


async def test_default_ingress_gets_a_private_target_load_balancer_from_the_ccm(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """Finding 3, engine-built: traefik (k3s' default ingress) is a LoadBalancer Service; with the
    engine's CCM values (location or zone, use-private-ip) it gets a Hetzner load balancer in the
    cluster's network, labelled by the CCM, and `kubectl get svc` shows its address."""
    plan = make_plan("lbc", cp=1, workers=1)
    await build(plan, sim, tmp_path)
    ids = await server_ids(sim)
    kube = Kube(sim, ssh_keys[0], ids["lbc-cp-1"])

    async def traefik_ip():
        svc = await kube.json("get svc traefik -n kube-system")
        return svc if ingress_ips(svc) else None

    svc = await until(traefik_ip, "traefik's load balancer address")

    async def every_node_a_target():
        found = await lbs_labelled(sim, svc["metadata"]["uid"])
        return found if len(found) == 1 and {t["server"]["id"] for t in found[0]["targets"]} == set(ids.values()) else None

    (lb,) = await until(every_node_a_target, "every node as a target (the CCM syncs again as nodes join)")
    assert ingress_ips(svc)[0] == lb["public_net"]["ipv4"]["ip"]
    network = (await get(sim, "/networks?name=lbc"))["networks"] or (await get(sim, "/networks"))["networks"]
    assert [p["network"] for p in lb["private_net"]] == [network[0]["id"]]
    assert all(t["use_private_ip"] for t in lb["targets"])
    assert {s["listen_port"] for s in lb["services"]} == {80, 443}
    table = await kube.run("get svc -n kube-system traefik")
    assert lb["public_net"]["ipv4"]["ip"] in table.stdout


async def test_ccm_without_location_or_zone_leaves_the_service_pending_with_its_error(
        sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """Hand-written CCM values without HCLOUD_LOAD_BALANCERS_LOCATION/_NETWORK_ZONE (the engine's old
    values): hcops/LoadBalancerOps.Create refuses, the service controller records SyncLoadBalancerFailed
    and the Service stays `<pending>`; no load balancer exists. An annotated zone works; deleting the
    Service deletes its load balancer; HCLOUD_LOAD_BALANCERS_ENABLED=false handles no Service at all."""
    await build(make_plan("bare", cp=1, workers=0, addons={"ingress": "none"}), sim, tmp_path)
    kube = Kube(sim, ssh_keys[0], (await server_ids(sim))["bare-cp-1"])
    await kube.apply(ccm_chart({}))
    await kube.apply(service("plain"))

    async def failed():
        return [e for e in await kube.events("default")
                if e["reason"] == "SyncLoadBalancerFailed" and e["involvedObject"]["name"] == "plain"]

    (event,) = await until(failed, "the CCM's error on the Service")
    assert NEITHER in event["message"] and event["type"] == "Warning"
    plain = await kube.json("get svc plain")
    assert ingress_ips(plain) == [] and "<pending>" in (await kube.run("get svc plain")).stdout
    assert await lbs_labelled(sim, plain["metadata"]["uid"]) == []

    await kube.apply(service("zoned", {"load-balancer.hetzner.cloud/network-zone": "eu-central"}))

    async def zoned_ip():
        svc = await kube.json("get svc zoned")
        return svc if ingress_ips(svc) else None

    zoned = await until(zoned_ip, "the annotated Service's load balancer")
    (lb,) = await lbs_labelled(sim, zoned["metadata"]["uid"])
    assert lb["location"]["network_zone"] == "eu-central"
    assert lb["labels"] == {"hcloud-ccm/service-uid": zoned["metadata"]["uid"]}
    assert all(not t["use_private_ip"] for t in lb["targets"])  # HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP defaults to false

    deleted = await kube.run("delete svc zoned")
    assert deleted.exit_status == 0, deleted.stderr

    async def gone():
        return await lbs_labelled(sim, zoned["metadata"]["uid"]) == []

    await until(gone, "the load balancer of the deleted Service to go")

    await kube.apply(ccm_chart({"HCLOUD_LOAD_BALANCERS_ENABLED": "false", "HCLOUD_LOAD_BALANCERS_LOCATION": "fsn1"}))
    await kube.apply(service("idle", {"load-balancer.hetzner.cloud/location": "fsn1"}))
    idle = await kube.json("get svc idle")
    await until(lambda: _quiet_round(kube), "a few controller rounds")
    assert await lbs_labelled(sim, idle["metadata"]["uid"]) == []
    assert ingress_ips(await kube.json("get svc idle")) == []  # servicelb is off too: nobody handles it


async def _quiet_round(kube: Kube) -> bool:
    """True after one more `kubectl get` (the controllers tick meanwhile)."""
    await kube.run("get nodes")
    return True


async def test_a_read_only_token_in_the_secret_fails_the_create_like_hetzner(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """The CCM calls the API with the Secret's token: a read-only one passes the start-up check
    (a GET) and then fails the create with `token_readonly` (spec, Error Codes: "The token is only
    allowed to perform GET requests")."""
    await build(make_plan("ro", cp=1, workers=0, addons={"ingress": "none"}), sim, tmp_path)
    kube = Kube(sim, ssh_keys[0], (await server_ids(sim))["ro-cp-1"])
    network = (await kube.json("get secret hcloud -n kube-system"))["data"]["network"]
    await kube.apply("apiVersion: v1\nkind: Secret\nmetadata: {name: hcloud, namespace: kube-system}\n"
                     f"stringData: {{token: {READ_ONLY_TOKEN}}}\ndata: {{network: {network}}}\n")
    await kube.apply(service("web", {"load-balancer.hetzner.cloud/location": "fsn1"}))

    async def refused():
        return [e for e in await kube.events("default") if e["reason"] == "SyncLoadBalancerFailed"]

    (event,) = await until(refused, "the refused create")
    assert "token_readonly" in event["message"]
    assert (await get(sim, "/load_balancers"))["load_balancers"] == []


async def test_klipper_and_the_ccm_fight_over_one_service(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """k3s docs/adrs/servicelb-ccm.md: `--disable=servicelb` is what turns off k3s' own service
    controller. A plan with service_load_balancer = "klipper" leaves it on; the engine's CCM values
    then set HCLOUD_LOAD_BALANCERS_ENABLED=false and traefik gets the nodes' addresses. With the
    CCM's load balancers on as well (hand-written values), both controllers own the Service: a
    Hetzner load balancer is made (and billed) while the status flips between the two writers."""
    await build(make_plan("kl", cp=1, workers=1, addons={"service_load_balancer": "klipper"}), sim, tmp_path)
    ids = await server_ids(sim)
    kube = Kube(sim, ssh_keys[0], ids["kl-cp-1"])
    servers = {s["name"]: s for s in (await get(sim, "/servers"))["servers"]}
    node_ips = {s["public_net"]["ipv4"]["ip"] for s in servers.values()}

    async def klipper_status():
        svc = await kube.json("get svc traefik -n kube-system")
        return svc if set(ingress_ips(svc)) == node_ips else None

    svc = await until(klipper_status, "ServiceLB's node addresses on traefik")
    assert await lbs_labelled(sim, svc["metadata"]["uid"]) == []

    await kube.apply(ccm_chart({"HCLOUD_LOAD_BALANCERS_LOCATION": "fsn1"}))
    seen: set[str] = set()

    async def both_writers():
        current = await kube.json("get svc traefik -n kube-system")
        ips = ingress_ips(current)
        seen.add("klipper" if set(ips) == node_ips else "ccm" if ips else "none")
        return {"klipper", "ccm"} <= seen

    await until(both_writers, "the status to flip between ServiceLB and the CCM", rounds=1200)
    assert len(await lbs_labelled(sim, svc["metadata"]["uid"])) == 1
