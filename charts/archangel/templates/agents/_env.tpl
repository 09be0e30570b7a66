{{/* Environment agents get beyond their ConfigMap: where core's API is, and the data tier. */}}
{{- define "archangel.agents.env" -}}
- name: ARCHANGEL_CORE_URL
  value: {{ printf "http://%s.%s.svc:%v" (include "archangel.componentName" (dict "root" .root "component" "core")) .root.Release.Namespace .root.Values.core.service.ports.http | quote }}
{{ include "archangel.dataEnv" .root }}
{{- end -}}
