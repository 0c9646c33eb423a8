"""Controllers that run inside a simulated k3s cluster and act on what the engine applied: the
hcloud cloud controller manager's load balancers (`ccm`), the hcloud CSI driver's volumes (`csi`),
Longhorn's manager readiness (`longhorn`), the CNI's pod network (`network`) and the chart readers
they share (`charts`). `runner` drives the ones that call the Hetzner API. Each module cites the
public source (and version) of the behaviour it models."""
