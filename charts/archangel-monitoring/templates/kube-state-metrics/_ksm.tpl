{{/* The kinds kube-state-metrics watches: only those the rules and dashboards read. */}}
{{- define "monitoring.kubeStateMetrics.resources" -}}
cronjobs,deployments,horizontalpodautoscalers,jobs,persistentvolumeclaims,pods,statefulsets
{{- end -}}

{{/* Namespaces it watches: the Archangel namespaces Prometheus scrapes, and this release's own. */}}
{{- define "monitoring.kubeStateMetrics.namespaces" -}}
{{- append .Values.prometheus.scrape.namespaces .Release.Namespace | uniq | sortAlpha | join "," -}}
{{- end -}}
