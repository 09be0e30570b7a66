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
{{- $certificates := include "archangel.dataTLS.hookCertificates" . -}}
{{- if and $certificates (not .Values.secrets.generate.enabled) -}}
{{- fail "secrets.generate.enabled is false but the data tier's TLS certificates would come from the secrets hook (no cert-manager.io/v1 API): install cert-manager and set dataTLS.certificates to cert-manager, enable generation, or set dataTLS.enabled to false" -}}
{{- end -}}
{{- if and (or $keys $certificates) .Values.secrets.generate.enabled -}}true{{- end -}}
{{- end -}}
