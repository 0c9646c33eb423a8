"""Pod traffic between nodes as the CNI's tunnel addresses and Hetzner's firewall make it
(khz_tui/sim/k3s/controllers/network.py), seen the way `verify` looks: a throwaway pod on a node
resolving a name through CoreDNS (`k3s kubectl run ... --rm -i -- nslookup NAME`).

tigera/operator core_controller.go: "Default IPv4 address detection to \"first found\" if not
specified" (eth0, the public address). Hetzner spec, tag Firewalls: "When applying a firewall with
no `in` rule all inbound traffic will be dropped"; Firewalls filter only the public interface
(`private_net_only_server`: "The Server the Firewall should be applied to has no public interface").
Our firewall lets node-to-node traffic in from the private range only."""

from __future__ import annotations

from pathlib import Path

from ctl_helpers import Kube, api, build, dns_probe, get, server_ids

CALICO_FIRST_FOUND = (
    "apiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata: {name: tigera-operator, namespace: kube-system}\n"
    "spec:\n  chart: tigera-operator\n  repo: https://docs.tigera.io/calico/charts\n  version: v3.32.1\n"
    "  targetNamespace: tigera-operator\n  createNamespace: true\n  bootstrap: true\n  valuesContent: |-\n"
    "    installation:\n      cni: {type: Calico}\n      calicoNetwork:\n        bgp: Disabled\n"
    "        ipPools: [{cidr: 10.244.0.0/16, encapsulation: VXLAN, natOutgoing: Enabled}]\n")


async def test_calico_first_found_tunnels_over_public_ips_and_our_firewall_drops_cross_node_dns(
        sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """Finding 1. Engine-built Calico cluster: with the engine's values (NodeInternalIP) DNS from
    the worker reaches CoreDNS on the control plane. With the operator's default (hand-written
    values without nodeAddressAutodetectionV4), VXLAN goes between public addresses, the Hetzner
    firewall drops it: the lookup times out on the worker while the nodes stay Ready and the
    lookup on CoreDNS' own node still works. Allowing UDP 4789 from the nodes' public addresses
    in the firewall makes it work again: the firewall is what decides."""
    plan = make_plan("cal", cp=1, workers=1, network={"cni": "calico"})
    await build(plan, sim, tmp_path)
    ids = await server_ids(sim)
    kube = Kube(sim, ssh_keys[0], ids["cal-cp-1"])

    works = await kube.run(dns_probe("cal-default-1"))
    assert works.exit_status == 0, (works.stdout, works.stderr)
    assert "Name:\tkubernetes.default.svc.cluster.local" in works.stdout and "Address: 10.43.0.1" in works.stdout

    await kube.apply(CALICO_FIRST_FOUND)
    fails = await kube.run(dns_probe("cal-default-1"))
    assert fails.exit_status == 1
    assert ";; connection timed out; no servers could be reached" in fails.stdout
    assert "pod default/dns-cal-default-1 terminated (Error)" in fails.stderr
    local = await kube.run(dns_probe("cal-cp-1"))
    assert local.exit_status == 0, local.stdout
    nodes = await kube.json("get nodes")
    assert all(n["status"]["conditions"][0]["status"] == "True" for n in nodes["items"])

    (firewall,) = (await get(sim, "/firewalls"))["firewalls"]
    servers = (await get(sim, "/servers"))["servers"]
    publics = [f"{s['public_net']['ipv4']['ip']}/32" for s in servers]
    rules = firewall["rules"] + [{"direction": "in", "protocol": "udp", "port": "4789", "source_ips": publics,
                                  "destination_ips": [], "description": "calico vxlan over public"}]
    status, body = await api(sim, "POST", f"/firewalls/{firewall['id']}/actions/set_rules", {"rules": rules})
    assert status == 201, body
    again = await kube.run(dns_probe("cal-default-1"))
    assert again.exit_status == 0, again.stdout


async def test_flannel_on_the_private_nic_resolves_from_every_node(sim, make_plan, ssh_keys, tmp_path: Path) -> None:
    """flannel (k3s' own) with `flannel-iface` on the private NIC: VXLAN inside the private network,
    which Hetzner's firewall does not filter. A name that is not a Service is NXDOMAIN; a pod bound
    to a node that does not exist never runs (`kubectl run` times out)."""
    await build(make_plan("fl", cp=1, workers=2), sim, tmp_path)
    kube = Kube(sim, ssh_keys[0], (await server_ids(sim))["fl-cp-1"])
    for node in ("fl-cp-1", "fl-default-1", "fl-default-2"):
        done = await kube.run(dns_probe(node, "kube-dns.kube-system"))
        assert done.exit_status == 0, (node, done.stdout, done.stderr)
        assert "Address: 10.43.0.10" in done.stdout
    unknown = await kube.run(dns_probe("fl-default-1", "nothing.default"))
    assert unknown.exit_status == 1 and "NXDOMAIN" in unknown.stdout
    nowhere = await kube.run(dns_probe("fl-ghost").replace("--rm", "--pod-running-timeout=5s --rm"))
    assert nowhere.exit_status == 1 and "timed out waiting for the condition" in nowhere.stderr
