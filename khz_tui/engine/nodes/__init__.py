"""Everything the engine does on and about the nodes: cloud-init, SSH sessions, k3s, kubeconfig."""
