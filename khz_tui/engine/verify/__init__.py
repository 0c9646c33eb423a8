"""`khz-tui verify PLAN [--deep]`, also run (its default checks) at the end of every apply.

Default checks change nothing at Hetzner: the kubeconfig works from this machine (TLS with its CA
and address, /version); every node Ready and on one k3s release; the add-ons' workloads up; DNS from
a pod on every node (cross-node pod traffic). `--deep` adds checks that make the cluster's controllers
create billed resources (a load balancer, a volume) and removes them. In-cluster checks run
`k3s kubectl` over SSH on a control plane whose host key this machine pinned.

    shell.py             how the cluster is asked (kubectl over SSH)
    model.py             a check's answer, and what the checks share
    checks.py            nodes, add-ons, DNS
    kubeconfig_check.py  the kubeconfig from this machine
    deep.py              --deep: load balancer and volumes, created and removed
    run.py               running them: the verify mode (`khz-tui verify`) and apply's closing verify
"""

from khz_tui.engine.verify.run import verify_after_apply, verify_cluster

__all__ = ["verify_after_apply", "verify_cluster"]
