{{/* The health check's probes as a list of (dict "name" "url"): core, the monitoring stack, and extra ones. */}}
{{- define "monitoring.healthcheck.checks" -}}
{{- $hc := .Values.healthcheck -}}
{{- $checks := list (dict "name" "core" "url" $hc.coreURL) -}}
{{- $prometheus := $hc.prometheusURL -}}
{{- if and (not $prometheus) (include "monitoring.prometheus.enabled" .) -}}
{{- $prometheus = include "monitoring.prometheus.url" . -}}
{{- end -}}
{{- if $prometheus -}}
{{- $checks = append $checks (dict "name" "prometheus" "url" (printf "%s/-/ready" (trimSuffix "/" $prometheus))) -}}
{{- end -}}
{{- $alertmanager := $hc.alertmanagerURL -}}
{{- if and (not $alertmanager) (include "monitoring.alertmanager.enabled" .) -}}
{{- $alertmanager = include "monitoring.alertmanager.url" . -}}
{{- end -}}
{{- if $alertmanager -}}
{{- $checks = append $checks (dict "name" "alertmanager" "url" (printf "%s/-/ready" (trimSuffix "/" $alertmanager))) -}}
{{- end -}}
{{- range $hc.extraChecks -}}
{{- if has .name (list "core" "prometheus" "alertmanager") -}}
{{- fail (printf "healthcheck.extraChecks: %q is a built-in check name; choose another" .name) -}}
{{- end -}}
{{- $checks = append $checks (dict "name" .name "url" .url) -}}
{{- end -}}
{{- toJson $checks -}}
{{- end -}}
