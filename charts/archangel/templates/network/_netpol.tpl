{{/* Egress from a workload to the data tier: the in-release pods, or the external endpoints' ports. */}}
{{- define "archangel.netpol.dataEgress" -}}
{{- if .Values.database.external.enabled }}
# The external database's address is not known to the chart: any destination, on its port only.
- ports:
    - port: {{ .Values.database.external.port }}
      protocol: TCP
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "archangel.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - port: 5432
      protocol: TCP
{{- end }}
{{- if .Values.vectorStore.external.enabled }}
- ports:
    - port: 443
      protocol: TCP
    - port: 6333
      protocol: TCP
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "archangel.selectorLabels" (dict "root" . "component" "qdrant") | nindent 10 }}
  ports:
    - port: 6333
      protocol: TCP
    - port: 6334
      protocol: TCP
{{- end }}
{{- end -}}


{{/* Job pods (backups, restores, verifications) that read the data tier carry archangel.io/data-client. */}}
{{- define "archangel.netpol.dataClients" -}}
{{- if or .Values.backup.enabled .Values.restore.enabled -}}
- podSelector:
    matchLabels:
      {{- include "archangel.releaseSelector" . | nindent 6 }}
      archangel.io/data-client: "true"
{{- end -}}
{{- end -}}
