{{/* Environment only core gets (beyond its ConfigMap). */}}
{{- define "archangel.core.env" -}}
{{- end -}}
