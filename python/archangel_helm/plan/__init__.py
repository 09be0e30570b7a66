"""Environments and what they ask of a cluster: environments.yaml (`environments`), the values files the
project ships (`shipped`), a release's capacity (`capacity`) and `archangel-helm plan` (`release_plan`)."""
