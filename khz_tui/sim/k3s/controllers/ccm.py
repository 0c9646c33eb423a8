"""The hcloud cloud controller manager's load balancer controller, as the simulated k3s runs it.

Read from hetznercloud/hcloud-cloud-controller-manager at tag v1.35.0 (commit cfbbbd9d6f24), chart
1.35.0:

- chart/values.yaml and templates/deployment.yaml: `env` is a map of container env entries
  (`{value}` or `{valueFrom: {secretKeyRef}}`, `null` removes one); HCLOUD_TOKEN comes from Secret
  `hcloud` key `token`; with `networking.enabled` (a Go template `if`: any non-empty string is
  true) HCLOUD_NETWORK comes from `networking.network`, by default Secret `hcloud` key `network`.
- internal/config/config.go `Read`/`Validate`: HCLOUD_LOAD_BALANCERS_ENABLED (default true),
  _LOCATION, _NETWORK_ZONE ("only one of them can be set"), _USE_PRIVATE_IP (default false),
  _DISABLE_PRIVATE_INGRESS, _DISABLE_IPV6, _DISABLE_PUBLIC_NETWORK, _TYPE; booleans parse with Go's
  strconv.ParseBool; HCLOUD_NETWORK_ROUTES_ENABLED defaults to true once a network is set; an empty
  token is "environment variable \"HCLOUD_TOKEN\" is required".
- hcloud/cloud.go `NewCloud`: the network is looked up by name or ID ("Network %s not found") and
  the token is checked with a location list; a failure ends the process (the pod crash-loops).
  `LoadBalancer()` returns nothing when load balancers are disabled: no Service is handled.
- hcloud/load_balancers.go `EnsureLoadBalancer`: find by label `hcloud-ccm/service-uid`, then by
  name (annotation `load-balancer.hetzner.cloud/name`, else k8s' DefaultLoadBalancerName: "a" and
  the uid without dashes, at most 32 characters), else create; then network, services, targets;
  status: public IPv4 (and IPv6 unless disabled) while the public interface is on, plus every
  private IP unless private ingress is disabled. `EnsureLoadBalancerDeleted` deletes the one
  labelled with the Service's uid.
- internal/hcops/load_balancer.go `Create`: type lb11 unless annotated or HCLOUD_LOAD_BALANCERS_TYPE,
  labels {hcloud-ccm/service-uid: uid}, location from the env or annotation, else network zone;
  neither: "hcops/LoadBalancerOps.Create: neither load-balancer.hetzner.cloud/location nor
  load-balancer.hetzner.cloud/network-zone set". `attachToNetwork` when a network is configured;
  `ReconcileHCLBTargets`: with use-private-ip and no network, "use private ip: missing network id";
  targets are the nodes whose providerID is hcloud://ID; services are TCP, listen port = port,
  destination = the node port.

k8s.io/cloud-provider's service controller records `Warning SyncLoadBalancerFailed "Error syncing
load balancer: failed to ensure load balancer: <err>"` and retries with a backoff from 5 s doubling
to 300 s; `Normal EnsuredLoadBalancer` on success. Services with `spec.loadBalancerClass` are left to
their own controller.

k3s' ServiceLB (k3s-io/k3s docs/adrs/servicelb-ccm.md): "The `--disable=servicelb` flag now disables
the CCM's `service` controller", and `--disable-cloud-controller` only turns off `cloud-node` and
`cloud-node-lifecycle`. So with servicelb left on beside the hcloud CCM's load balancers, two
service controllers own the same Services: each writes its own status.loadBalancer (node addresses
versus the Hetzner load balancer's), overwriting the other at every sync, while the Hetzner load
balancer is billed anyway. Modelled as a status that alternates every SERVICELB_FIGHT_SECONDS.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from khz_tui.sim.k3s import objects
from khz_tui.sim.k3s.cluster import Cluster
from khz_tui.sim.k3s.controllers.charts import chart_values, env_value, target_namespace
from khz_tui.sim.k3s.controllers.hcloud_api import HcloudApi, HcloudError

CCM_VERSION = "v1.35.0"
CHART = "hcloud-cloud-controller-manager"
USER_AGENT = f"hcloud-cloud-controller-manager/{CCM_VERSION}"
LABEL_SERVICE_UID = "hcloud-ccm/service-uid"
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
ANNOTATION = "load-balancer.hetzner.cloud/"
RETRY_MIN_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0
SERVICELB_FIGHT_SECONDS = 30.0
"""How long one of the two fighting service controllers' status stands before the other's sync
overwrites it (simulated seconds)."""
_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_CHART_ENV = {"HCLOUD_TOKEN": {"valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "token"}}}}


@dataclass
class CcmConfig:
    """The CCM's configuration as `config.Read` and `Validate` make it from its environment."""

    token: str = ""
    network: str = ""
    lb_enabled: bool = True
    location: str = ""
    network_zone: str = ""
    use_private_ip: bool = False
    private_ingress: bool = True
    ipv6: bool = True
    disable_public_network: bool | None = None
    lb_type: str = ""
    routes_enabled: bool = False
    errors: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Changes whenever any setting does (a new pod starts with the new environment)."""
        return hashlib.sha256(json.dumps(vars(self), sort_keys=True, default=str).encode()).hexdigest()


def _truthy(value: Any) -> bool:
    """Go template truth: false, 0, "" and empty collections are false; any other string is true."""
    return bool(value)


def _parse_bool(env: dict[str, str], key: str, default: bool, errors: list[str]) -> bool:
    if key not in env:
        return default
    if env[key] in _TRUE:
        return True
    if env[key] in _FALSE:
        return False
    errors.append(f"failed to parse {key}: strconv.ParseBool: parsing \"{env[key]}\": invalid syntax")
    return default


def config(cluster: Cluster) -> CcmConfig | None:
    """The CCM's configuration, or None when no HelmChart installs it."""
    values = chart_values(cluster, CHART)
    if values is None:
        return None
    namespace = target_namespace(cluster, CHART)
    errors: list[str] = []

    def secret(name: str, key: str) -> str | None:
        value = cluster.secret_value(namespace, name, key)
        if value is None:
            exists = ("Secret", namespace, name) in cluster.objects
            errors.append(f"CreateContainerConfigError: couldn't find key {key} in Secret {namespace}/{name}"
                          if exists else f"CreateContainerConfigError: secret \"{name}\" not found")
        return value

    entries: dict[str, Any] = dict(_CHART_ENV)
    entries.update(values.get("env") or {})
    networking = values.get("networking") or {}
    if _truthy(networking.get("enabled")):
        entries["HCLOUD_NETWORK"] = networking.get("network") or {
            "valueFrom": {"secretKeyRef": {"name": "hcloud", "key": "network"}}}
    env: dict[str, str] = {}
    for key, entry in entries.items():
        if entry is None:
            continue  # `KEY: null` in values removes the chart's entry
        value = env_value(entry, secret)
        if value is not None:
            env[key] = value
    cfg = CcmConfig(token=env.get("HCLOUD_TOKEN", ""), network=env.get("HCLOUD_NETWORK", ""),
                    location=env.get("HCLOUD_LOAD_BALANCERS_LOCATION", ""),
                    network_zone=env.get("HCLOUD_LOAD_BALANCERS_NETWORK_ZONE", ""),
                    lb_type=env.get("HCLOUD_LOAD_BALANCERS_TYPE", ""), errors=errors)
    cfg.lb_enabled = _parse_bool(env, "HCLOUD_LOAD_BALANCERS_ENABLED", True, errors)
    cfg.use_private_ip = _parse_bool(env, "HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP", False, errors)
    cfg.private_ingress = not _parse_bool(env, "HCLOUD_LOAD_BALANCERS_DISABLE_PRIVATE_INGRESS", False, errors)
    cfg.ipv6 = not _parse_bool(env, "HCLOUD_LOAD_BALANCERS_DISABLE_IPV6", False, errors)
    if "HCLOUD_LOAD_BALANCERS_DISABLE_PUBLIC_NETWORK" in env:
        cfg.disable_public_network = _parse_bool(env, "HCLOUD_LOAD_BALANCERS_DISABLE_PUBLIC_NETWORK", False, errors)
    if cfg.network:
        cfg.routes_enabled = _parse_bool(env, "HCLOUD_NETWORK_ROUTES_ENABLED", True, errors)
    if not cfg.token and not any("HCLOUD_TOKEN" in e or "key token" in e for e in errors):
        errors.append("environment variable \"HCLOUD_TOKEN\" is required")
    if cfg.location and cfg.network_zone:
        errors.append("invalid value for \"HCLOUD_LOAD_BALANCERS_LOCATION\"/\"HCLOUD_LOAD_BALANCERS_NETWORK_ZONE\", "
                      "only one of them can be set")
    return cfg


def load_balancer_name(svc: dict[str, Any]) -> str:
    """k8s.io/cloud-provider DefaultLoadBalancerName, unless the name annotation says otherwise."""
    named = _annotation(svc, "name")
    if named:
        return named
    return ("a" + str(svc["metadata"].get("uid", "")).replace("-", ""))[:32]


def _annotation(svc: dict[str, Any], name: str) -> str | None:
    value = ((svc.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION + name)
    return None if value is None else str(value)


def _annotation_bool(svc: dict[str, Any], name: str, default: bool) -> bool:
    value = _annotation(svc, name)
    if value is None:
        return default
    if value in _TRUE or value in _FALSE:
        return value in _TRUE
    raise HcloudError("invalid_annotation", f"annotation {ANNOTATION}{name}: invalid bool {value!r}")


def load_balancer_services(cluster: Cluster) -> list[dict[str, Any]]:
    """Every Service of type LoadBalancer with no `spec.loadBalancerClass`."""
    return [s for s in objects.objects_of(cluster, "Service", None)
            if (s.get("spec") or {}).get("type") == "LoadBalancer" and not (s.get("spec") or {}).get("loadBalancerClass")]


def involved(svc: dict[str, Any]) -> dict[str, str]:
    """The Service as an event's involvedObject."""
    meta = svc["metadata"]
    return {"kind": "Service", "namespace": meta.get("namespace", ""), "name": meta["name"], "uid": str(meta.get("uid", ""))}


def node_port(svc: dict[str, Any], port: dict[str, Any]) -> int:
    """The Service port's node port (allocated from 30000-32767 when the object has none)."""
    if port.get("nodePort"):
        return int(port["nodePort"])
    digest = hashlib.sha256(f"{svc['metadata'].get('uid')}/{port.get('port')}".encode()).hexdigest()
    return 30000 + int(digest[:6], 16) % 2768


def target_server_ids(cluster: Cluster) -> list[int]:
    """Server ids of the nodes the service controller gives the CCM (providerID hcloud://ID; nodes
    labelled to be excluded are left out; others get an UnknownProviderIDPrefix event)."""
    ids = []
    for node in sorted(cluster.nodes.values(), key=lambda n: n.name):
        obj = cluster.node_json(node)
        if EXCLUDE_LABEL in obj["metadata"]["labels"]:
            continue
        provider = str(obj["spec"].get("providerID", ""))
        if provider.startswith("hcloud://"):
            ids.append(int(provider.removeprefix("hcloud://")))
    return ids


class CloudControllerManager:
    """The CCM's load balancer controller for one cluster: reconciled from the runner's loop."""

    def __init__(self, cluster: Cluster, endpoint: str, time_scale: float) -> None:
        self.cluster = cluster
        self.endpoint = endpoint
        self.time_scale = time_scale
        self._started: str | None = None
        """Fingerprint of the configuration NewCloud last accepted."""
        self._synced: dict[str, str] = {}
        """Service uid -> fingerprint of what was last ensured successfully."""
        self._retry: dict[str, tuple[float, float]] = {}
        """Service uid -> (next attempt at, current backoff)."""
        self._ccm_status: dict[str, list[dict[str, Any]]] = {}
        self._active = False

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _due(self, key: str) -> bool:
        at, _ = self._retry.get(key, (0.0, 0.0))
        return self._now() >= at

    def _failed(self, key: str) -> None:
        _, backoff = self._retry.get(key, (0.0, 0.0))
        backoff = min(RETRY_MAX_SECONDS, backoff * 2 if backoff else RETRY_MIN_SECONDS)
        self._retry[key] = (self._now() + backoff * self.time_scale, backoff)

    def _api(self, cfg: CcmConfig) -> HcloudApi:
        return HcloudApi(self.endpoint, cfg.token, USER_AGENT, self.time_scale)

    async def reconcile(self) -> None:
        """One pass: start (or crash) the CCM, then ensure or delete each Service's load balancer."""
        cluster = self.cluster
        cfg = config(cluster)
        self._active = False
        if cfg is None or not any(n.running for n in cluster.nodes.values()):
            self._started = None
            return
        if not await self._start(cfg):
            return
        wanted = {str(s["metadata"].get("uid")): s for s in load_balancer_services(cluster)}
        if not cfg.lb_enabled:
            return  # cloud.LoadBalancer() reports none: the service controller never starts
        self._active = True
        for uid in [u for u in cluster.lb_services if u not in wanted]:
            await self._delete(cfg, uid)
        targets = target_server_ids(cluster)
        for svc in wanted.values():
            await self._ensure(cfg, svc, targets)

    def status_of(self, uid: str) -> tuple[list[dict[str, Any]] | None, bool]:
        """The status.loadBalancer.ingress the CCM last wrote for a Service (a status stays when its
        writer stops), and whether the CCM's service controller runs now."""
        return self._ccm_status.get(uid), self._active

    async def _start(self, cfg: CcmConfig) -> bool:
        """NewCloud: configuration errors, then the network and a token check over the API."""
        cluster = self.cluster
        fingerprint = cfg.fingerprint()
        if self._started == fingerprint:
            return True
        if not self._due("startup"):
            return False
        ccm = {"kind": "Deployment", "namespace": target_namespace(cluster, CHART), "name": CHART, "uid": ""}
        failure: str | None = "; ".join(cfg.errors) or None
        if failure is None:
            api = self._api(cfg)
            try:
                if cfg.network:
                    query = {"id": cfg.network} if cfg.network.isdigit() else {"name": cfg.network}
                    found = (await api.call("GET", f"/networks/{cfg.network}") if "id" in query
                             else await api.call("GET", "/networks", params=query))
                    if not (found.get("network") or found.get("networks")):
                        failure = f"hcloud/newCloud: Network {cfg.network} not found"
                if failure is None:
                    await api.call("GET", "/locations")
            except HcloudError as exc:
                failure = f"hcloud/newCloud: {exc}"
        if failure is not None:
            cluster.ccm_failure = failure
            cluster.record_event(ccm, "Warning", "BackOff", f"Back-off restarting failed container: {failure}",
                                 "kubelet")
            self._failed("startup")
            self._started = None
            return False
        cluster.ccm_failure = None
        self._retry.pop("startup", None)
        self._started = fingerprint
        self._synced.clear()  # a restarted CCM syncs every Service again
        return True

    async def _ensure(self, cfg: CcmConfig, svc: dict[str, Any], targets: list[int]) -> None:
        uid = str(svc["metadata"].get("uid"))
        fingerprint = hashlib.sha256(json.dumps(
            [svc["metadata"].get("annotations"), svc.get("spec", {}).get("ports"), targets, cfg.fingerprint()],
            sort_keys=True, default=str).encode()).hexdigest()
        if self._synced.get(uid) == fingerprint or not self._due(uid):
            return
        try:
            ingress = await self._ensure_load_balancer(cfg, svc, targets)
        except HcloudError as exc:
            self.cluster.record_event(involved(svc), "Warning", "SyncLoadBalancerFailed",
                                      f"Error syncing load balancer: failed to ensure load balancer: {exc.message}",
                                      "service-controller")
            self._failed(uid)
            return
        self._retry.pop(uid, None)
        self._synced[uid] = fingerprint
        self._ccm_status[uid] = ingress
        self.cluster.lb_services[uid] = [svc["metadata"].get("namespace", ""), svc["metadata"]["name"]]
        self.cluster.record_event(involved(svc), "Normal", "EnsuredLoadBalancer", "Ensured load balancer",
                                  "service-controller")

    async def _find(self, api: HcloudApi, uid: str, name: str | None) -> dict[str, Any] | None:
        found = (await api.call("GET", "/load_balancers",
                                params={"label_selector": f"{LABEL_SERVICE_UID}={uid}"}))["load_balancers"]
        if not found and name:
            found = (await api.call("GET", "/load_balancers", params={"name": name}))["load_balancers"]
        return found[0] if found else None

    async def _network_id(self, api: HcloudApi, cfg: CcmConfig) -> int | None:
        if not cfg.network:
            return None
        if cfg.network.isdigit():
            return int(cfg.network)
        nets = (await api.call("GET", "/networks", params={"name": cfg.network}))["networks"]
        return int(nets[0]["id"]) if nets else None

    async def _ensure_load_balancer(self, cfg: CcmConfig, svc: dict[str, Any], targets: list[int]) -> list[dict[str, Any]]:
        api = self._api(cfg)
        uid = str(svc["metadata"].get("uid"))
        name = load_balancer_name(svc)
        network_id = await self._network_id(api, cfg)
        lb = await self._find(api, uid, name)
        if lb is None:
            lb = await self._create(api, cfg, svc, name)
        lb_id = lb["id"]
        if network_id is not None and not any(p.get("network") == network_id for p in lb.get("private_net") or []):
            answer = await api.call("POST", f"/load_balancers/{lb_id}/actions/attach_to_network", {"network": network_id})
            await api.wait(answer.get("action"))
        lb = (await api.call("GET", f"/load_balancers/{lb_id}"))["load_balancer"]
        listening = {s["listen_port"] for s in lb.get("services") or []}
        for port in (svc.get("spec") or {}).get("ports") or []:
            if port.get("protocol", "TCP") != "TCP" or int(port["port"]) in listening:
                continue
            dest = node_port(svc, port)
            answer = await api.call("POST", f"/load_balancers/{lb_id}/actions/add_service", {
                "protocol": "tcp", "listen_port": int(port["port"]), "destination_port": dest, "proxyprotocol": False,
                "health_check": {"protocol": "tcp", "port": dest, "interval": 15, "timeout": 10, "retries": 3}})
            await api.wait(answer.get("action"))
        private = _annotation_bool(svc, "use-private-ip", cfg.use_private_ip)
        if private and network_id is None:
            raise HcloudError("invalid_input", "hcloud/loadBalancers.EnsureLoadBalancer: "
                              "hcops/LoadBalancerOps.ReconcileHCLBTargets: use private ip: missing network id")
        have = {t["server"]["id"]: t for t in lb.get("targets") or [] if t.get("type") == "server"}
        for sid, target in have.items():
            if sid not in targets or bool(target.get("use_private_ip")) != private:
                answer = await api.call("POST", f"/load_balancers/{lb_id}/actions/remove_target",
                                        {"type": "server", "server": {"id": sid}})
                await api.wait(answer.get("action"))
        for sid in targets:
            if sid in have and bool(have[sid].get("use_private_ip")) == private:
                continue
            answer = await api.call("POST", f"/load_balancers/{lb_id}/actions/add_target",
                                    {"type": "server", "server": {"id": sid}, "use_private_ip": private})
            await api.wait(answer.get("action"))
        lb = (await api.call("GET", f"/load_balancers/{lb_id}"))["load_balancer"]
        return self._ingress(cfg, svc, lb)

    async def _create(self, api: HcloudApi, cfg: CcmConfig, svc: dict[str, Any], name: str) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "load_balancer_type": _annotation(svc, "type") or cfg.lb_type or "lb11",
                                "labels": {LABEL_SERVICE_UID: str(svc["metadata"].get("uid"))}}
        location: str | None = cfg.location or None
        annotated = _annotation(svc, "location")
        if annotated is not None:
            location = annotated or None
        zone = _annotation(svc, "network-zone") or cfg.network_zone
        if location is None and not zone:
            raise HcloudError("invalid_input", "hcloud/loadBalancers.EnsureLoadBalancer: hcops/LoadBalancerOps.Create: "
                              "neither load-balancer.hetzner.cloud/location nor load-balancer.hetzner.cloud/network-zone set")
        if location is not None:
            body["location"] = location
        else:
            body["network_zone"] = zone
        disable_public = _annotation_bool(svc, "disable-public-network", bool(cfg.disable_public_network)) \
            if (_annotation(svc, "disable-public-network") is not None or cfg.disable_public_network is not None) else None
        if disable_public is not None:
            body["public_interface"] = not disable_public
        try:
            answer = await api.call("POST", "/load_balancers", body)
        except HcloudError as exc:
            raise HcloudError(exc.code, f"hcloud/loadBalancers.EnsureLoadBalancer: hcops/LoadBalancerOps.Create: "
                                        f"{exc.message} ({exc.code})") from None
        await api.wait(answer.get("action"))
        made: dict[str, Any] = answer["load_balancer"]
        return made

    def _ingress(self, cfg: CcmConfig, svc: dict[str, Any], lb: dict[str, Any]) -> list[dict[str, Any]]:
        hostname = _annotation(svc, "hostname")
        if hostname:
            return [{"hostname": hostname}]
        public = lb.get("public_net") or {}
        out: list[dict[str, Any]] = []
        if public.get("enabled", True):
            if (public.get("ipv4") or {}).get("ip"):
                out.append({"ip": public["ipv4"]["ip"], "ipMode": "VIP"})
            if _annotation_bool(svc, "ipv6-disabled", not cfg.ipv6) is False and (public.get("ipv6") or {}).get("ip"):
                out.append({"ip": public["ipv6"]["ip"], "ipMode": "VIP"})
        if not _annotation_bool(svc, "disable-private-ingress", not cfg.private_ingress):
            out += [{"ip": p["ip"], "ipMode": "VIP"} for p in lb.get("private_net") or []]
        return out

    async def _delete(self, cfg: CcmConfig, uid: str) -> None:
        if not self._due(uid):
            return
        namespace, name = self.cluster.lb_services[uid]
        api = self._api(cfg)
        subject = {"kind": "Service", "namespace": namespace, "name": name, "uid": uid}
        try:
            lb = await self._find(api, uid, None)
            if lb is not None and not (lb.get("protection") or {}).get("delete"):
                await api.call("DELETE", f"/load_balancers/{lb['id']}")
        except HcloudError as exc:
            if exc.code != "not_found":
                self.cluster.record_event(subject, "Warning", "SyncLoadBalancerFailed",
                                          f"Error deleting load balancer: {exc.message}", "service-controller")
                self._failed(uid)
                return
        self.cluster.lb_services.pop(uid, None)
        self.cluster.service_status.pop((namespace, name), None)
        self._ccm_status.pop(uid, None)
        self._synced.pop(uid, None)
        self._retry.pop(uid, None)
        self.cluster.record_event(subject, "Normal", "DeletedLoadBalancer", "Deleted load balancer", "service-controller")


def servicelb_ingress(cluster: Cluster) -> list[dict[str, Any]]:
    """What k3s' ServiceLB writes: the addresses of the Ready nodes running its svclb pods (their
    ExternalIP when k3s was given one, else their InternalIP)."""
    out = []
    for node in sorted(cluster.nodes.values(), key=lambda n: n.name):
        if cluster.is_ready(node):
            out.append({"ip": node.external_ip or node.internal_ip, "ipMode": "VIP"})
    return out


def write_statuses(cluster: Cluster, ccm: CloudControllerManager | None, time_scale: float) -> None:
    """Every LoadBalancer Service's status as its controllers leave it: the CCM's, ServiceLB's, or,
    when both own it, whichever synced last (they alternate)."""
    servicelb = "servicelb" not in cluster.disabled
    slot = int(asyncio.get_running_loop().time() / max(1e-6, SERVICELB_FIGHT_SECONDS * time_scale)) % 2
    statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for svc in load_balancer_services(cluster):
        key = (svc["metadata"].get("namespace", ""), svc["metadata"]["name"])
        from_ccm, active = ccm.status_of(str(svc["metadata"].get("uid"))) if ccm is not None else (None, False)
        if servicelb and not (active and from_ccm is not None and slot == 0):
            statuses[key] = servicelb_ingress(cluster)
        elif from_ccm is not None:
            statuses[key] = from_ccm
    cluster.service_status = statuses
