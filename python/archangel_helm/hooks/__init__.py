"""Entry points that run inside the cluster as Helm hook Jobs (in the tools image)."""
