{{/* The Secret and key holding the Grafana admin password: the user's, or the one the secrets hook generates. */}}
{{- define "monitoring.grafana.adminSecret" -}}
{{- if .Values.grafana.admin.existingSecret -}}
name: {{ .Values.grafana.admin.existingSecret }}
key: {{ .Values.grafana.admin.existingSecretKey }}
{{- else -}}
name: {{ include "monitoring.generatedSecretName" . }}
key: grafana-admin-password
{{- end -}}
{{- end -}}

{{- define "monitoring.grafana.provisioning" -}}
datasources.yaml: |
  apiVersion: 1
  datasources:
    - name: Prometheus
      uid: prometheus
      type: prometheus
      access: proxy
      url: {{ include "monitoring.prometheus.url" . }}
      isDefault: true
      editable: false
      jsonData:
        timeInterval: {{ .Values.prometheus.scrapeInterval }}
dashboards.yaml: |
  apiVersion: 1
  providers:
    - name: archangel
      folder: Archangel
      type: file
      disableDeletion: true
      allowUiUpdates: false
      options:
        path: /etc/grafana/dashboards/archangel
{{- end -}}
