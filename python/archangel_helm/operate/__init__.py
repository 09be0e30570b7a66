"""Operating Archangel on a live cluster: preflight, deploy through Helm, verify, report, status."""
