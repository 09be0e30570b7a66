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
