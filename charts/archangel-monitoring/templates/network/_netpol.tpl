{{/* A peer selecting this release's pods of one component: (dict "root" $ "component" "prometheus") */}}
{{- define "monitoring.netpol.podPeer" -}}
podSelector:
  matchLabels:
    {{- include "monitoring.selectorLabels" . | nindent 4 }}
{{- end -}}

{{/* A peer in another namespace: (dict "namespace" "x" "podLabels" (dict ...)) */}}
{{- define "monitoring.netpol.namespacedPeer" -}}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ .namespace }}
podSelector:
  matchLabels:
    {{- toYaml .podLabels | nindent 4 }}
{{- end -}}

{{/* The Prometheus that scrapes this release: ours in standalone mode, the operator's otherwise. */}}
{{- define "monitoring.netpol.prometheusPeer" -}}
{{- if include "monitoring.prometheus.enabled" . -}}
{{- include "monitoring.netpol.podPeer" (dict "root" . "component" "prometheus") -}}
{{- else -}}
{{- include "monitoring.netpol.namespacedPeer" .Values.networkPolicy.prometheus -}}
{{- end -}}
{{- end -}}

{{/* The port of a URL: explicit, else 443 for https and 80 for http. */}}
{{- define "monitoring.urlPort" -}}
{{- $url := urlParse . -}}
{{- $parts := splitList ":" $url.host -}}
{{- if gt (len $parts) 1 -}}
{{- last $parts -}}
{{- else -}}
{{- ternary "443" "80" (eq $url.scheme "https") -}}
{{- end -}}
{{- end -}}

{{/* Whether a URL names an in-cluster Service (<name>.<namespace>.svc[.cluster.local]). */}}
{{- define "monitoring.isServiceURL" -}}
{{- $host := first (splitList ":" (urlParse .).host) -}}
{{- if or (hasSuffix ".svc" $host) (hasSuffix ".svc.cluster.local" $host) -}}true{{- end -}}
{{- end -}}
