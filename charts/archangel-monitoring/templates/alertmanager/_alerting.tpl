{{/*
Alert routing, shared by both modes: the standalone alertmanager.yml and the operator's AlertmanagerConfig are
two renderings of the same receivers, severity routes and inhibition.
*/}}

{{/* Enabled receivers, in a fixed order, as a JSON list. */}}
{{- define "monitoring.alerting.enabledReceivers" -}}
{{- $enabled := list -}}
{{- range $name := list "email" "slack" "pagerduty" -}}
{{- if (index $.Values.alerting.receivers $name).enabled -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- toJson $enabled -}}
{{- end -}}

{{/* Receiver of alerts no severity route matches. */}}
{{- define "monitoring.alerting.defaultReceiver" -}}
{{- $enabled := include "monitoring.alerting.enabledReceivers" . | fromJsonArray -}}
{{- $default := .Values.alerting.defaultReceiver -}}
{{- if not $default -}}
{{- $default = "null" -}}
{{- range $name := list "pagerduty" "email" "slack" -}}
{{- if has $name $enabled -}}{{- $default = $name -}}{{- end -}}
{{- end -}}
{{- else if and (ne $default "null") (not (has $default $enabled)) -}}
{{- fail (printf "alerting.defaultReceiver is %q but alerting.receivers.%s.enabled is false; enable it or pick one of: null %s" $default $default (join " " $enabled)) -}}
{{- end -}}
{{- $default -}}
{{- end -}}

{{/*
Severity routes as a JSON list of {severity, receiver, continue}: for each severity, one route per enabled
receiver listed for it, each but the last with continue so every listed receiver gets the alert.
*/}}
{{- define "monitoring.alerting.routes" -}}
{{- $enabled := include "monitoring.alerting.enabledReceivers" . | fromJsonArray -}}
{{- $routes := list -}}
{{- range $severity := list "critical" "warning" "info" -}}
{{- $targets := list -}}
{{- range $name := index $.Values.alerting.routes $severity -}}
{{- if has $name $enabled -}}{{- $targets = append $targets $name -}}{{- end -}}
{{- end -}}
{{- range $i, $name := $targets -}}
{{- $routes = append $routes (dict "severity" $severity "receiver" $name "continue" (lt (add1 $i) (len $targets))) -}}
{{- end -}}
{{- end -}}
{{- toJson $routes -}}
{{- end -}}

{{/* Values a receiver needs, refused by name before anything is applied. */}}
{{- define "monitoring.alerting.checks" -}}
{{- $a := .Values.alerting -}}
{{- $enabled := include "monitoring.alerting.enabledReceivers" . | fromJsonArray -}}
{{- if and $enabled (not $a.existingSecret) -}}
{{- fail (printf "alerting.existingSecret is empty but receivers %s are enabled: name the Secret (in namespace %s) holding their keys" (join ", " $enabled) .Release.Namespace) -}}
{{- end -}}
{{- /* The email receiver's addresses and server: the site check (_site.tpl) names them when missing. */ -}}
{{- $_ := include "monitoring.alerting.defaultReceiver" . -}}
{{- end -}}

{{/* Notification texts (Alertmanager templates, passed through verbatim). */}}
{{- define "monitoring.alerting.title" -}}
{{ `[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.severity }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.namespace }})` }}
{{- end -}}
{{- define "monitoring.alerting.text" -}}
{{ `{{ range .Alerts }}*{{ .Annotations.summary }}*
{{ .Annotations.description }}
Runbook: {{ .Annotations.runbook_url }}
{{ end }}` }}
{{- end -}}
{{- define "monitoring.alerting.pagerdutySeverity" -}}
{{ `{{ if eq .CommonLabels.severity "critical" }}critical{{ else if eq .CommonLabels.severity "warning" }}warning{{ else }}info{{ end }}` }}
{{- end -}}

{{/* alertmanager.yml of the standalone Alertmanager: every secret is read from a file of the mounted Secret. */}}
{{- define "monitoring.alertmanager.config" -}}
{{- include "monitoring.alerting.checks" . -}}
{{- $a := .Values.alerting -}}
{{- $r := $a.receivers -}}
{{- $secrets := "/etc/alertmanager/secrets" -}}
{{- $enabled := include "monitoring.alerting.enabledReceivers" . | fromJsonArray -}}
global:
  resolve_timeout: 5m
route:
  receiver: {{ include "monitoring.alerting.defaultReceiver" . | quote }}
  group_by:
    {{- toYaml $a.groupBy | nindent 4 }}
  group_wait: {{ $a.groupWait }}
  group_interval: {{ $a.groupInterval }}
  repeat_interval: {{ $a.repeatInterval }}
  routes:
    # Watchdog always fires, to prove the pipeline works end to end; it never notifies.
    - receiver: "null"
      matchers:
        - alertname="Watchdog"
    {{- range include "monitoring.alerting.routes" . | fromJsonArray }}
    - receiver: {{ .receiver }}
      matchers:
        - severity="{{ .severity }}"
      {{- if .continue }}
      continue: true
      {{- end }}
    {{- end }}
{{- if $a.inhibitWarningsWhenCritical }}
inhibit_rules:
  # A critical alert mutes the warning of the same alert in the same namespace (e.g. latency P99 over P95).
  - source_matchers:
      - severity="critical"
    target_matchers:
      - severity="warning"
    equal:
      - alertname
      - namespace
{{- end }}
receivers:
  - name: "null"
  {{- if has "email" $enabled }}
  - name: email
    email_configs:
      - to: {{ $r.email.to | quote }}
        from: {{ $r.email.from | quote }}
        smarthost: {{ $r.email.smarthost | quote }}
        {{- if $r.email.authUsername }}
        auth_username: {{ $r.email.authUsername | quote }}
        auth_password_file: {{ printf "%s/%s" $secrets $r.email.passwordKey }}
        {{- end }}
        require_tls: {{ $r.email.requireTLS }}
        send_resolved: {{ $r.email.sendResolved }}
        headers:
          Subject: {{ include "monitoring.alerting.title" . | quote }}
  {{- end }}
  {{- if has "slack" $enabled }}
  - name: slack
    slack_configs:
      - api_url_file: {{ printf "%s/%s" $secrets $r.slack.apiURLKey }}
        channel: {{ $r.slack.channel | quote }}
        send_resolved: {{ $r.slack.sendResolved }}
        title: {{ include "monitoring.alerting.title" . | quote }}
        text: {{ include "monitoring.alerting.text" . | quote }}
  {{- end }}
  {{- if has "pagerduty" $enabled }}
  - name: pagerduty
    pagerduty_configs:
      # Events API v2: a routing (integration) key, not the v1 service key.
      - routing_key_file: {{ printf "%s/%s" $secrets $r.pagerduty.routingKeyKey }}
        url: {{ $r.pagerduty.url | quote }}
        send_resolved: {{ $r.pagerduty.sendResolved }}
        severity: {{ include "monitoring.alerting.pagerdutySeverity" . | quote }}
        description: {{ include "monitoring.alerting.title" . | quote }}
  {{- end }}
{{- end -}}
