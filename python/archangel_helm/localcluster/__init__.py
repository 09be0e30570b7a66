"""A local Kubernetes control plane built from pinned Go modules (tools/cluster): `archangel-helm cluster
build|up|down|status`, `make cluster-up`, and the session fixture of tests/cluster."""
