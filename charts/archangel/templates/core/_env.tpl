{{/* Environment core gets beyond its ConfigMap: the data tier. */}}
{{- define "archangel.core.env" -}}
{{- include "archangel.dataEnv" .root -}}
{{- end -}}
