{{/* The response headers both the Ingress (through a ConfigMap) and the HTTPRoute add, as a Name: value map. */}}
{{- define "archangel.securityHeaders" -}}
{{- $h := .Values.securityHeaders -}}
{{- $headers := dict
      "Strict-Transport-Security" $h.strictTransportSecurity
      "Content-Security-Policy" $h.contentSecurityPolicy
      "Referrer-Policy" $h.referrerPolicy
      "X-Frame-Options" $h.frameOptions
      "X-Content-Type-Options" $h.contentTypeOptions -}}
{{- toYaml (merge (deepCopy $h.extra) $headers) -}}
{{- end -}}

{{/*
"true" when the security headers go through ingress-nginx's custom-headers annotation: opt-in, because the
controller answers 503 on every path of the Ingress unless its global-allowed-response-headers lists each
header name (archangel.ingress.allowedHeaders gives the line).
*/}}
{{- define "archangel.ingress.customHeaders" -}}
{{- $i := .Values.ingress -}}
{{- if and $i.enabled $i.nginx.enabled $i.nginx.customHeaders.enabled .Values.securityHeaders.enabled -}}true{{- end -}}
{{- end -}}

{{- define "archangel.ingress.allowedHeaders" -}}
{{- keys (include "archangel.securityHeaders" . | fromYaml) | sortAlpha | join "," -}}
{{- end -}}
