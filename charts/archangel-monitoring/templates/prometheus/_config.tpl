{{/*
Relabeling shared by the Archangel scrape jobs: the same target labels the application chart's ServiceMonitors
give in operator mode (docs/METRICS.md), so one set of rules and dashboards serves both modes.
*/}}
{{- define "monitoring.prometheus.archangelRelabelings" -}}
- source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_component]
  target_label: component
- source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_instance]
  target_label: release
- source_labels: [__meta_kubernetes_namespace]
  target_label: namespace
- source_labels: [__meta_kubernetes_service_name]
  target_label: service
- source_labels: [__meta_kubernetes_pod_name]
  target_label: pod
- source_labels: [__meta_kubernetes_pod_container_name]
  target_label: container
- source_labels: [__meta_kubernetes_endpointslice_port_name]
  target_label: endpoint
- source_labels: [__meta_kubernetes_service_name]
  target_label: job
{{- end -}}

{{- define "monitoring.prometheus.discovery" -}}
kubernetes_sd_configs:
  # EndpointSlices: the v1 Endpoints API is deprecated from Kubernetes 1.33.
  - role: endpointslice
    namespaces:
      names:
        {{- toYaml .Values.prometheus.scrape.namespaces | nindent 8 }}
{{- end -}}

{{- define "monitoring.prometheus.kubeletJob" -}}
- job_name: {{ .job }}
  scheme: https
  metrics_path: {{ .path }}
  authorization:
    credentials_file: /var/run/secrets/kubernetes.io/serviceaccount/token
  tls_config:
    ca_file: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
    insecure_skip_verify: {{ .root.Values.prometheus.scrape.kubelet.insecureSkipVerify }}
  kubernetes_sd_configs:
    - role: node
  relabel_configs:
    - source_labels: [__meta_kubernetes_node_name]
      target_label: node
  # Only the series the rules and dashboards read: the kubelet and cAdvisor expose thousands more per node.
  metric_relabel_configs:
    - source_labels: [__name__]
      regex: {{ .keep }}
      action: keep
{{- end -}}

{{/* prometheus.yml of the standalone Prometheus. */}}
{{- define "monitoring.prometheus.config" -}}
{{- $p := .Values.prometheus -}}
{{- $ns := .Release.Namespace -}}
{{- $am := include "monitoring.componentName" (dict "root" . "component" "alertmanager") -}}
{{- $amTargets := list -}}
{{- range $i := until (int .Values.alertmanager.replicas) -}}
{{- $amTargets = append $amTargets (printf "%s-%d.%s-hl.%s.svc:9093" $am $i $am $ns) -}}
{{- end -}}
global:
  scrape_interval: {{ $p.scrapeInterval }}
  scrape_timeout: {{ $p.scrapeTimeout }}
  evaluation_interval: {{ $p.evaluationInterval }}
  {{- with $p.externalLabels }}
  external_labels:
    {{- toYaml . | nindent 4 }}
  {{- end }}
rule_files:
  - /etc/prometheus/rules/*.yaml
{{- if include "monitoring.alertmanager.enabled" . }}
alerting:
  alertmanagers:
    # Every Alertmanager replica, not the Service: each must receive every alert for the cluster to deduplicate.
    - api_version: v2
      static_configs:
        - targets:
            {{- toYaml $amTargets | nindent 12 }}
{{- end }}
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets:
          - localhost:9090
  {{- if include "monitoring.alertmanager.enabled" . }}
  - job_name: alertmanager
    static_configs:
      - targets:
          {{- toYaml $amTargets | nindent 10 }}
  {{- end }}
  {{- if .Values.pushgateway.enabled }}
  # Pushed series keep their own job (archangel-backup, archangel-healthcheck) and labels.
  - job_name: pushgateway
    honor_labels: true
    static_configs:
      - targets:
          - {{ printf "%s.%s.svc:%d" (include "monitoring.componentName" (dict "root" . "component" "pushgateway")) $ns (int .Values.pushgateway.service.port) }}
  {{- end }}
  {{- if include "monitoring.kubeStateMetrics.enabled" . }}
  # kube-state-metrics labels series with the object's namespace; keep it rather than the target's.
  - job_name: kube-state-metrics
    honor_labels: true
    static_configs:
      - targets:
          - {{ printf "%s.%s.svc:8080" (include "monitoring.componentName" (dict "root" . "component" "kube-state-metrics")) $ns }}
  {{- end }}
  # Archangel's Services labelled archangel.io/metrics=true, on their port named "metrics" (core, agents,
  # postgres_exporter), as the application chart's ServiceMonitors select them.
  - job_name: archangel
    {{- include "monitoring.prometheus.discovery" . | nindent 4 }}
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_label_archangel_io_metrics]
        regex: "true"
        action: keep
      - source_labels: [__meta_kubernetes_endpointslice_port_name]
        regex: metrics
        action: keep
      {{- include "monitoring.prometheus.archangelRelabelings" . | nindent 6 }}
  {{- if $p.scrape.qdrant.enabled }}
  # Qdrant serves /metrics on its HTTP port, behind its API key.
  - job_name: archangel-qdrant
    {{- with $p.scrape.qdrant.apiKeySecret.name }}
    authorization:
      type: Bearer
      credentials_file: /etc/prometheus/secrets/qdrant/{{ $p.scrape.qdrant.apiKeySecret.key }}
    {{- end }}
    {{- $tls := $p.scrape.qdrant.tls }}
    {{- if $tls.enabled }}
    # Qdrant serves https (the application's dataTLS): verified against the data tier's CA, by the Service's
    # name, which the certificate holds (each pod is scraped by its address).
    {{- $_ := required "prometheus.scrape.qdrant.tls.caSecret.name is required with prometheus.scrape.qdrant.tls.enabled: a Secret in this namespace holding the application's data-tier CA (ca.crt of <fullname>-qdrant-tls); or set tls.enabled false if the application runs Qdrant without dataTLS" $tls.caSecret.name }}
    scheme: https
    tls_config:
      ca_file: /etc/prometheus/secrets/qdrant-ca/{{ $tls.caSecret.key }}
      server_name: {{ required "prometheus.scrape.qdrant.tls.serverName is required with prometheus.scrape.qdrant.tls.enabled: Qdrant's Service name, <fullname>-qdrant.<namespace>.svc" $tls.serverName }}
    {{- end }}
    {{- include "monitoring.prometheus.discovery" . | nindent 4 }}
    relabel_configs:
      - source_labels: [__meta_kubernetes_service_label_archangel_io_metrics]
        regex: "true"
        action: keep
      - source_labels: [__meta_kubernetes_service_label_app_kubernetes_io_component]
        regex: qdrant
        action: keep
      - source_labels: [__meta_kubernetes_endpointslice_port_name]
        regex: http
        action: keep
      {{- include "monitoring.prometheus.archangelRelabelings" . | nindent 6 }}
  {{- end }}
  {{- if $p.scrape.operatorPods.enabled }}
  # Pods an operator runs for the application (no Service of the chart's in front): CloudNativePG's instances
  # and PgBouncer, labelled by the application chart with archangel.io/metrics-component and
  # archangel.io/release, on their port named "metrics"; the same labels the PodMonitors give in operator mode.
  - job_name: archangel-operator-pods
    kubernetes_sd_configs:
      - role: pod
        namespaces:
          names:
            {{- toYaml $p.scrape.namespaces | nindent 12 }}
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_label_archangel_io_metrics_component]
        regex: .+
        action: keep
      - source_labels: [__meta_kubernetes_pod_container_port_name]
        regex: metrics
        action: keep
      - source_labels: [__meta_kubernetes_pod_label_archangel_io_metrics_component]
        target_label: component
      - source_labels: [__meta_kubernetes_pod_label_archangel_io_release]
        target_label: release
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_container_name]
        target_label: container
  {{- end }}
  {{- if $p.scrape.kubelet.enabled }}
  {{- include "monitoring.prometheus.kubeletJob" (dict "root" . "job" "kubelet" "path" "/metrics" "keep" "kubelet_volume_stats_(available|capacity|used)_bytes") | nindent 2 }}
  {{- include "monitoring.prometheus.kubeletJob" (dict "root" . "job" "cadvisor" "path" "/metrics/cadvisor" "keep" "container_(cpu_usage_seconds_total|memory_working_set_bytes)") | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* Refuses a TSDB size cap the volume cannot hold (compaction needs headroom: at most 90 % of it). */}}
{{- define "monitoring.prometheus.checks" -}}
{{- $p := .Values.prometheus -}}
{{- $units := dict "Mi" 1 "Gi" 1024 "Ti" 1048576 "MB" 1 "GB" 1024 "TB" 1048576 -}}
{{- $volume := regexFind "^[0-9]+" $p.persistence.size | int64 -}}
{{- $volumeMiB := mul $volume (get $units (regexFind "[A-Za-z]+$" $p.persistence.size)) -}}
{{- $cap := regexFind "^[0-9]+" $p.retentionSize | int64 -}}
{{- $capMiB := mul $cap (get $units (regexFind "[A-Za-z]+$" $p.retentionSize)) -}}
{{- if gt (mul $capMiB 10) (mul $volumeMiB 9) -}}
{{- fail (printf "prometheus.retentionSize %s does not fit prometheus.persistence.size %s: keep it at most 90 %% of the volume, which compaction needs as headroom" $p.retentionSize $p.persistence.size) -}}
{{- end -}}
{{- if le (int .Values.alertmanager.replicas) 0 -}}
{{- fail "alertmanager.replicas must be at least 1" -}}
{{- end -}}
{{- end -}}
