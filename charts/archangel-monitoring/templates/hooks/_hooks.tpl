{{/*
Helm hook annotations, as the application chart writes them. Argo CD maps Helm hooks itself (pre-install and
pre-upgrade -> PreSync, hook-weight -> order), so no argocd.argoproj.io/hook annotation is added: one would make
Argo CD ignore every Helm hook of the chart. (dict "events" "pre-install,pre-upgrade" "weight" "-20")
*/}}
{{- define "monitoring.hookAnnotations" -}}
helm.sh/hook: {{ .events }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ default "before-hook-creation,hook-succeeded" .deletePolicy }}
{{- end -}}

{{- define "monitoring.generatedSecretName" -}}
{{- include "monitoring.componentName" (dict "root" . "component" "generated") -}}
{{- end -}}

{{/* Keys the secrets hook must create, as a JSON list: today only the standalone Grafana's admin password. */}}
{{- define "monitoring.generatedKeys" -}}
{{- $keys := list -}}
{{- if and (include "monitoring.grafana.enabled" .) (not .Values.grafana.admin.existingSecret) -}}
{{- $keys = append $keys (dict "name" "grafana-admin-password" "length" 32 "alphabet" "alphanumeric") -}}
{{- end -}}
{{- toJson $keys -}}
{{- end -}}

{{- define "monitoring.secretsHook.enabled" -}}
{{- if and .Values.secrets.generate.enabled (include "monitoring.generatedKeys" . | fromJsonArray) -}}true{{- end -}}
{{- end -}}
