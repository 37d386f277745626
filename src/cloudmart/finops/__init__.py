"""FinOps: the Kubecost-compatible cost analyzer and the optimization tools built on it."""
