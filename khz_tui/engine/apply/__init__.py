"""Apply: converge the project to the plan, bootstrap k3s, write the kubeconfig.

The critical path decides the wall time, so nothing waits for what it does not need:

    discover ─┬─ network ─┬─ servers (10 POSTs at a time) ─ SSH ─ seed install ─┬─ add-ons
              ├─ firewall ┤                                                    ├─ workers join (parallel)
              ├─ ssh key ─┤                                   seed Ready ──────┴─ other control planes join
              └─ groups ──┘─ load balancer (only the seed's tls-san needs it)     (one at a time)
                                                        all Ready ─ scale-down ─ kubeconfig

That order is the default `ApplyPolicy` (policy.py): another policy changes how many servers are
created at once, when nodes join, how long each wait lasts. The points the parts wait for are named
in milestones.py. Each node runs its own task through the phases planned → creating → booting →
ssh-ready → installing → joined → ready. Everything found by label is kept (and checked for drift), so a rerun
makes no mutating API call, and a run stopped anywhere continues where it stopped. The seed is cp-1
for a new cluster, or a control plane already running it (`seed.find_seed`): a live cluster never gets
a new token.

Where each part lives:
    flow.py            the order above, and running the concurrent parts together
    policy.py          the schedule's limits: concurrency, join order, retries, deadlines, poll intervals
    milestones.py      the points the parts wait for: who reaches each, who waits for it
    records.py         what the parts hand each other: infrastructure, a provisioned node, the running API
    progress.py        what the parts share while the run goes: nodes and phases, sessions, SSH retries
    infrastructure.py  network, firewall, SSH key, placement groups, API load balancer
    node_server.py     one node's server (create, wait, recreate, power on) up to its SSH session
    seed.py            choosing the seed and the cluster token
    join.py            installing the seed, joining the other nodes
    readiness.py       the readiness watcher
    scale_down.py      confirming and removing nodes the plan no longer has
    kubeconfig_file.py fetching, rewriting and writing the kubeconfig
    settled.py         whether this run will change anything (only then does it take the run lock)
    node_network.py    a node taken off the cluster's network: attached again with its address
    api_certificates.py the API load balancer's addresses in every control plane's tls-san (restarted
                       one at a time)
"""
