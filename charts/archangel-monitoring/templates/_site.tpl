{{/*
Site values, as in the application chart (its _site.tpl): an environment's values file sets a key to null
("set it for your site"), and the release refuses to render until every one is given, naming them all.
*/}}
{{- define "monitoring.site.missing" -}}
{{- $v := .Values -}}
{{- $missing := list -}}
{{- $email := $v.alerting.receivers.email -}}
{{- if $email.enabled -}}
{{- range $field, $what := dict "to" "the on-call address(es)" "from" "the sender address" "smarthost" "the SMTP server, host:port" -}}
{{- if not (index $email $field) -}}
{{- $missing = append $missing (printf "alerting.receivers.email.%s: %s" $field $what) -}}
{{- end -}}
{{- end -}}
{{- if not (hasKey $email "authUsername") -}}
{{- $missing = append $missing "alerting.receivers.email.authUsername: the SMTP user (\"\" for none)" -}}
{{- end -}}
{{- end -}}
{{- if and $v.healthcheck.enabled (not $v.healthcheck.coreURL) -}}
{{- $missing = append $missing "healthcheck.coreURL: the core API's readiness URL as the health check reaches it (the public one in operator mode)" -}}
{{- end -}}
{{- if $v.global.requireImageDigests -}}
{{- $images := dict -}}
{{- range $component := list "prometheus" "alertmanager" "grafana" "kubeStateMetrics" -}}
{{- if include (printf "monitoring.%s.enabled" $component) $ -}}
{{- $_ := set $images (printf "%s.image" $component) (index $v $component).image -}}
{{- end -}}
{{- end -}}
{{- if $v.pushgateway.enabled -}}
{{- $_ := set $images "pushgateway.image" $v.pushgateway.image -}}
{{- end -}}
{{- /* the tools image runs the secrets hook, the health check and the helm test pod */ -}}
{{- $_ := set $images "tools.image" $v.tools.image -}}
{{- range $field, $image := $images -}}
{{- if not $image.digest -}}
{{- $missing = append $missing (printf "%s.digest: the digest (sha256:...) of %s:%s as your registry serves it (global.requireImageDigests)" $field $image.repository (toString $image.tag)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $missing -}}
{{- end -}}

{{- define "monitoring.site.check" -}}
{{- $missing := include "monitoring.site.missing" . | fromJsonArray -}}
{{- if $missing -}}
{{- fail (printf "\nthis release needs values only your site knows; set each of these (values/examples/ has an example per environment):\n  - %s" (join "\n  - " $missing)) -}}
{{- end -}}
{{- end -}}
