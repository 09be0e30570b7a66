{{/*
TLS of the data tier the chart runs itself: PostgreSQL in builtin mode and Qdrant. (In cloudnativepg mode the
operator makes PostgreSQL's certificates; external services bring theirs.) One private CA signs a server
certificate per service; each server Secret holds tls.crt, tls.key and ca.crt, and clients mount only its
ca.crt. The certificates come from cert-manager when its API is served (or asked for), else from the secrets
hook, which makes them once and never replaces the CA.
*/}}

{{/* "cert-manager", "hook", or "" (TLS off). */}}
{{- define "archangel.dataTLS.source" -}}
{{- $tls := .Values.dataTLS -}}
{{- if $tls.enabled -}}
{{- if eq $tls.certificates "cert-manager" -}}
{{- if not (.Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate") -}}
{{- fail "dataTLS.certificates is cert-manager but the cluster does not serve cert-manager.io/v1/Certificate: install cert-manager, or set dataTLS.certificates to auto or hook" -}}
{{- end -}}
cert-manager
{{- else if eq $tls.certificates "hook" -}}
hook
{{- else -}}
{{- ternary "cert-manager" "hook" (.Capabilities.APIVersions.Has "cert-manager.io/v1/Certificate") -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart's PostgreSQL (builtin mode) serves TLS with the chart's certificates. */}}
{{- define "archangel.postgresql.tls" -}}
{{- if and (eq .Values.database.mode "builtin") (include "archangel.dataTLS.source" .) -}}true{{- end -}}
{{- end -}}

{{- define "archangel.qdrant.tls" -}}
{{- if and (not .Values.vectorStore.external.enabled) (include "archangel.dataTLS.source" .) -}}true{{- end -}}
{{- end -}}

{{- define "archangel.dataTLS.caName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "data-ca") -}}
{{- end -}}

{{- define "archangel.postgresql.tlsSecret" -}}
{{- include "archangel.componentName" (dict "root" . "component" "postgresql-tls") -}}
{{- end -}}

{{- define "archangel.qdrant.tlsSecret" -}}
{{- include "archangel.componentName" (dict "root" . "component" "qdrant-tls") -}}
{{- end -}}

{{/* Every name a client may use for a service: short, namespaced, .svc and the full cluster domain. */}}
{{- define "archangel.dataTLS.serviceNames" -}}
{{- $names := list -}}
{{- range .services -}}
{{- $names = concat $names (list . (printf "%s.%s" . $.namespace) (printf "%s.%s.svc" . $.namespace) (printf "%s.%s.svc.cluster.local" . $.namespace)) -}}
{{- end -}}
{{- toJson $names -}}
{{- end -}}

{{/* DNS names of a server certificate: the Service, the headless Service and each pod behind it (Qdrant's peers
reach one another as <pod>.<headless>). (dict "root" $ "component" "postgresql") */}}
{{- define "archangel.dataTLS.names" -}}
{{- $service := include "archangel.componentName" (dict "root" .root "component" .component) -}}
{{- $namespace := .root.Release.Namespace -}}
{{- $names := include "archangel.dataTLS.serviceNames" (dict "services" (list $service (printf "%s-hl" $service)) "namespace" $namespace) | fromJsonArray -}}
{{- $names = append $names (printf "*.%s-hl.%s.svc" $service $namespace) -}}
{{- $names = append $names (printf "*.%s-hl.%s.svc.cluster.local" $service $namespace) -}}
{{- toJson $names -}}
{{- end -}}

{{- define "archangel.postgresql.tlsNames" -}}
{{- include "archangel.dataTLS.names" (dict "root" . "component" "postgresql") -}}
{{- end -}}

{{- define "archangel.qdrant.tlsNames" -}}
{{- include "archangel.dataTLS.names" (dict "root" . "component" "qdrant") -}}
{{- end -}}

{{/* What the secrets hook makes when it is the source: the CA and each server certificate (JSON, or ""). */}}
{{- define "archangel.dataTLS.hookCertificates" -}}
{{- if eq (include "archangel.dataTLS.source" .) "hook" -}}
{{- $hook := .Values.dataTLS.hook -}}
{{- if ge (int $hook.renewBeforeDays) (int $hook.validityDays) -}}
{{- fail (printf "dataTLS.hook.renewBeforeDays (%v) must be less than dataTLS.hook.validityDays (%v)" $hook.renewBeforeDays $hook.validityDays) -}}
{{- end -}}
{{- $servers := list -}}
{{- if include "archangel.postgresql.tls" . -}}
{{- $servers = append $servers (dict "secret" (include "archangel.postgresql.tlsSecret" .) "commonName" (include "archangel.componentName" (dict "root" . "component" "postgresql")) "dnsNames" (include "archangel.postgresql.tlsNames" . | fromJsonArray) "validityDays" (int $hook.validityDays) "renewBeforeDays" (int $hook.renewBeforeDays)) -}}
{{- end -}}
{{- if include "archangel.qdrant.tls" . -}}
{{- $servers = append $servers (dict "secret" (include "archangel.qdrant.tlsSecret" .) "commonName" (include "archangel.componentName" (dict "root" . "component" "qdrant")) "dnsNames" (include "archangel.qdrant.tlsNames" . | fromJsonArray) "validityDays" (int $hook.validityDays) "renewBeforeDays" (int $hook.renewBeforeDays)) -}}
{{- end -}}
{{- if $servers -}}
{{- toJson (dict "ca" (dict "secret" (include "archangel.dataTLS.caName" .) "commonName" (printf "%s data-tier CA" (include "archangel.fullname" .)) "validityDays" (int $hook.caValidityDays)) "servers" $servers) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A volume with only the ca.crt of a server certificate's Secret: what a client verifies that server by. */}}
{{- define "archangel.dataTLS.caVolume" -}}
- name: {{ .volume }}
  secret:
    secretName: {{ .secret }}
    defaultMode: 0444
    items:
      - key: ca.crt
        path: ca.crt
{{- end -}}
