{{/*
Helm hook annotations. Argo CD maps Helm hooks itself (pre-install/pre-upgrade -> PreSync, hook-weight ->
order within the phase), so no argocd.argoproj.io/hook annotation is added: one would make Argo CD ignore
every Helm hook in the chart. (dict "events" "pre-install,pre-upgrade" "weight" "-20")
*/}}
{{- define "archangel.hookAnnotations" -}}
helm.sh/hook: {{ .events }}
helm.sh/hook-weight: {{ .weight | quote }}
helm.sh/hook-delete-policy: {{ default "before-hook-creation,hook-succeeded" .deletePolicy }}
{{- end -}}

{{/* Whether the secrets hook has anything to do. */}}
{{- define "archangel.secretsHook.enabled" -}}
{{- $keys := include "archangel.generatedKeys" . | fromJsonArray -}}
{{- if and $keys (not .Values.secrets.generate.enabled) -}}
{{- $names := list -}}
{{- range $keys }}{{ $names = append $names .name }}{{ end -}}
{{- fail (printf "secrets.generate.enabled is false but no existingSecret provides %s; set the existingSecret values (database.auth, vectorStore.auth, backup.encryption) or enable generation" (join ", " $names)) -}}
{{- end -}}
{{- if and $keys .Values.secrets.generate.enabled -}}true{{- end -}}
{{- end -}}
