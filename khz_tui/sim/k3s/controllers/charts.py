"""What the add-ons' charts would deploy, read from the HelmChart objects the way k3s' helm
controller installs them: `spec.chart` names the chart, `spec.valuesContent` (YAML) overrides its
values, `spec.targetNamespace` is where its objects go. A `HelmChartConfig` of the same name and
namespace adds values on top (k3s docs, "Customizing Packaged Components with HelmChartConfig"),
which is how the packaged traefik is configured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml

from khz_tui.sim.k3s.cluster import Cluster


def helm_chart(cluster: Cluster, chart: str) -> dict[str, Any] | None:
    """The applied HelmChart whose `spec.chart` (or name) is `chart`, if any."""
    for (kind, _ns, name), obj in sorted(cluster.objects.items()):
        if kind != "HelmChart":
            continue
        spec = obj.get("spec") or {}
        if str(spec.get("chart", "")).rsplit("/", 1)[-1] == chart or name == chart:
            return obj
    return None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _values_content(obj: dict[str, Any] | None) -> dict[str, Any]:
    raw = ((obj or {}).get("spec") or {}).get("valuesContent")
    if not raw:
        return {}
    try:
        values = yaml.safe_load(raw)
    except yaml.YAMLError:
        return {}  # helm would fail the install job; nothing of the chart's values applies
    return values if isinstance(values, dict) else {}


def chart_values(cluster: Cluster, chart: str, defaults: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The chart's effective values (defaults, then valuesContent, then a HelmChartConfig), or None
    when no HelmChart installs it."""
    obj = helm_chart(cluster, chart)
    if obj is None:
        return None
    name = obj["metadata"]["name"]
    config = cluster.objects.get(("HelmChartConfig", obj["metadata"].get("namespace", "kube-system"), name))
    return _merge(_merge(defaults or {}, _values_content(obj)), _values_content(config))


def target_namespace(cluster: Cluster, chart: str) -> str:
    """Where the chart's objects live (`spec.targetNamespace`, else the HelmChart's namespace)."""
    obj = helm_chart(cluster, chart) or {}
    spec = obj.get("spec") or {}
    return str(spec.get("targetNamespace") or (obj.get("metadata") or {}).get("namespace") or "kube-system")


def traefik_values(cluster: Cluster) -> dict[str, Any]:
    """Values of k3s' packaged traefik: only what a `HelmChartConfig` named traefik in kube-system
    adds (the packaged HelmChart itself lives in the server's manifests directory, not in the API)."""
    return _values_content(cluster.objects.get(("HelmChartConfig", "kube-system", "traefik")))


def env_value(entry: Any, secret: Callable[[str, str], str | None]) -> str | None:
    """One container env entry of a chart's `env` map: `{value: X}` or `{valueFrom: {secretKeyRef:
    {name, key}}}`; `secret(name, key)` resolves Secret references. None when unset."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        return str(entry)
    if "value" in entry:
        value = entry["value"]
        return None if value is None else (str(value).lower() if isinstance(value, bool) else str(value))
    ref = ((entry.get("valueFrom") or {}).get("secretKeyRef")) or {}
    if ref:
        return secret(str(ref.get("name", "")), str(ref.get("key", "")))
    return None


def chart_services(cluster: Cluster, make: Any) -> list[dict[str, Any]]:
    """The LoadBalancer Services that applied charts create. ingress-nginx (kubernetes/ingress-nginx
    charts/ingress-nginx values.yaml: `controller.service` enabled, `type: LoadBalancer`, ports http 80
    and https 443, `annotations`, `loadBalancerClass`; the Service is `<fullname>-controller`, the
    fullname being the release name when it contains the chart name). `make(ns, name, ip, ports,
    type)` builds the Service object."""
    out: list[dict[str, Any]] = []
    chart = helm_chart(cluster, "ingress-nginx")
    values = chart_values(cluster, "ingress-nginx")
    if chart is None or values is None:
        return out
    service = (values.get("controller") or {}).get("service") or {}
    if service.get("enabled") is False:
        return out
    release = chart["metadata"]["name"]
    fullname = release if "ingress-nginx" in release else f"{release}-ingress-nginx"
    ports = [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
             {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]
    made = make(target_namespace(cluster, "ingress-nginx"), f"{fullname}-controller", "", ports,
                str(service.get("type") or "LoadBalancer"))
    if service.get("annotations"):
        made["metadata"]["annotations"] = {str(k): str(v) for k, v in service["annotations"].items()}
    if service.get("loadBalancerClass"):
        made["spec"]["loadBalancerClass"] = str(service["loadBalancerClass"])
    out.append(made)
    return out
