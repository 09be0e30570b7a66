"""Monitoring: the health-check entry point and the helpers the rule and dashboard checks use.

- healthcheck: `python -m archangel_helm.monitoring.healthcheck`, run by the monitoring chart's CronJob;
- promql: metric names a PromQL expression reads;
- rules: the alerting and recording rules of a Prometheus rules file.
"""
