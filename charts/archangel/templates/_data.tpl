{{/*
The data tier as the workloads see it: where PostgreSQL and Qdrant are and where their credentials come from,
whether the chart runs them or they are external.
*/}}

{{/* The Secret the pre-install hook creates; never rendered by the chart (see hooks/). */}}
{{- define "archangel.generatedSecretName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "generated") -}}
{{- end -}}

{{- define "archangel.database.mode" -}}
{{- .Values.database.mode -}}
{{- end -}}

{{/* The CloudNativePG Cluster (and its services <name>-rw, -ro, -r) and its PgBouncer Pooler. */}}
{{- define "archangel.database.clusterName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "postgresql") -}}
{{- end -}}

{{- define "archangel.database.poolerName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "pgbouncer") -}}
{{- end -}}

{{/* Where core and agents connect: the Pooler in front of the primary, else the primary's service. */}}
{{- define "archangel.database.host" -}}
{{- $mode := include "archangel.database.mode" . -}}
{{- if eq $mode "external" -}}
{{- required "database.external.host is required when database.mode is external" .Values.database.external.host -}}
{{- else if and (eq $mode "cloudnativepg") .Values.database.cloudnativepg.pooler.enabled -}}
{{- printf "%s.%s.svc" (include "archangel.database.poolerName" .) .Release.Namespace -}}
{{- else if eq $mode "cloudnativepg" -}}
{{- printf "%s-rw.%s.svc" (include "archangel.database.clusterName" .) .Release.Namespace -}}
{{- else -}}
{{- printf "%s.%s.svc" (include "archangel.componentName" (dict "root" . "component" "postgresql")) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/*
Where the logical backups read: in cloudnativepg mode a replica (the -ro service), so the primary carries no
dump load; the -r service (any instance) when there is no replica.
*/}}
{{- define "archangel.database.backupHost" -}}
{{- if eq (include "archangel.database.mode" .) "cloudnativepg" -}}
{{- printf "%s-%s.%s.svc" (include "archangel.database.clusterName" .) (ternary "ro" "r" (gt (int .Values.database.cloudnativepg.instances) 1)) .Release.Namespace -}}
{{- else -}}
{{- include "archangel.database.host" . -}}
{{- end -}}
{{- end -}}

{{/* The primary itself: for restores, which must not go through PgBouncer's transaction pooling. */}}
{{- define "archangel.database.directHost" -}}
{{- if eq (include "archangel.database.mode" .) "cloudnativepg" -}}
{{- printf "%s-rw.%s.svc" (include "archangel.database.clusterName" .) .Release.Namespace -}}
{{- else -}}
{{- include "archangel.database.host" . -}}
{{- end -}}
{{- end -}}

{{- define "archangel.database.port" -}}
{{- $mode := include "archangel.database.mode" . -}}
{{- if eq $mode "external" }}{{ .Values.database.external.port }}{{ else if eq $mode "cloudnativepg" }}5432{{ else }}{{ .Values.database.postgresql.service.port }}{{ end -}}
{{- end -}}

{{/* libpq sslmode: verify-full against the CA the chart knows (the operator's, or the chart's own). */}}
{{- define "archangel.database.sslmode" -}}
{{- $mode := include "archangel.database.mode" . -}}
{{- if eq $mode "external" }}{{ .Values.database.external.sslmode }}{{ else if include "archangel.database.caSecret" . }}verify-full{{ else }}disable{{ end -}}
{{- end -}}

{{/* The Secret whose ca.crt signs the server certificate, when the chart knows it: the operator's CA in
cloudnativepg mode, the builtin server's certificate Secret (cert-manager's or the hook's) with data-tier TLS. */}}
{{- define "archangel.database.caSecret" -}}
{{- if eq (include "archangel.database.mode" .) "cloudnativepg" -}}
{{- printf "%s-ca" (include "archangel.database.clusterName" .) -}}
{{- else if include "archangel.postgresql.tls" . -}}
{{- include "archangel.postgresql.tlsSecret" . -}}
{{- end -}}
{{- end -}}

{{/* secretKeyRef of the database password: the existing Secret, else the generated one. */}}
{{- define "archangel.database.passwordRef" -}}
{{- $mode := include "archangel.database.mode" . -}}
{{- if .Values.database.auth.existingSecret -}}
{{- if and (eq $mode "cloudnativepg") (ne .Values.database.auth.existingSecretPasswordKey "password") -}}
{{- fail "database.auth.existingSecretPasswordKey must be \"password\" in cloudnativepg mode: CloudNativePG reads the keys username and password of database.auth.existingSecret" -}}
{{- end -}}
name: {{ .Values.database.auth.existingSecret }}
key: {{ .Values.database.auth.existingSecretPasswordKey }}
{{- else -}}
{{- if eq $mode "external" -}}
{{- fail "database.mode is external: set database.auth.existingSecret to the Secret holding the external database's password" -}}
{{- end -}}
name: {{ include "archangel.generatedSecretName" . }}
{{- /* CloudNativePG bootstraps the owner from the keys username and password of one Secret. */}}
key: {{ ternary "password" "database-password" (eq $mode "cloudnativepg") }}
{{- end -}}
{{- end -}}

{{- define "archangel.vectorStore.url" -}}
{{- if .Values.vectorStore.external.enabled -}}
{{- required "vectorStore.external.url is required when vectorStore.external.enabled is true" .Values.vectorStore.external.url -}}
{{- else -}}
{{- printf "%s://%s.%s.svc:%v" (ternary "https" "http" (not (not (include "archangel.qdrant.tls" .)))) (include "archangel.componentName" (dict "root" . "component" "qdrant")) .Release.Namespace .Values.vectorStore.qdrant.service.ports.http -}}
{{- end -}}
{{- end -}}

{{/* The Secret whose ca.crt signs Qdrant's certificate, when the chart runs Qdrant with TLS. */}}
{{- define "archangel.vectorStore.caSecret" -}}
{{- if include "archangel.qdrant.tls" . -}}
{{- include "archangel.qdrant.tlsSecret" . -}}
{{- end -}}
{{- end -}}

{{- define "archangel.vectorStore.apiKeyRef" -}}
{{- if .Values.vectorStore.auth.existingSecret -}}
name: {{ .Values.vectorStore.auth.existingSecret }}
key: {{ .Values.vectorStore.auth.existingSecretKey }}
{{- else -}}
name: {{ include "archangel.generatedSecretName" . }}
key: qdrant-api-key
{{- end -}}
{{- end -}}

{{/* Environment that points a workload at the data tier. */}}
{{- define "archangel.dataEnv" -}}
- name: DATABASE_HOST
  value: {{ include "archangel.database.host" . | quote }}
- name: DATABASE_PORT
  value: {{ include "archangel.database.port" . | quote }}
- name: DATABASE_NAME
  value: {{ .Values.database.auth.database | quote }}
- name: DATABASE_USER
  value: {{ .Values.database.auth.username | quote }}
- name: DATABASE_SSLMODE
  value: {{ include "archangel.database.sslmode" . | quote }}
{{- if include "archangel.database.caSecret" . }}
- name: DATABASE_SSLROOTCERT
  value: /etc/archangel/database-ca/ca.crt
{{- end }}
- name: DATABASE_PASSWORD_FILE
  value: /etc/archangel/credentials/database-password
- name: QDRANT_URL
  value: {{ include "archangel.vectorStore.url" . | quote }}
- name: QDRANT_API_KEY_FILE
  value: /etc/archangel/credentials/qdrant-api-key
{{- if include "archangel.vectorStore.caSecret" . }}
- name: QDRANT_CA_CERT_FILE
  value: /etc/archangel/vectorstore-ca/ca.crt
{{- end }}
{{- end -}}

{{/*
Credentials as files, not environment variables (environments leak into crash reports, /proc and child
processes): whichever Secrets hold them, they appear under /etc/archangel/credentials with fixed names.
*/}}
{{- define "archangel.credentialsVolume" -}}
{{- $db := include "archangel.database.passwordRef" . | fromYaml -}}
{{- $qdrant := include "archangel.vectorStore.apiKeyRef" . | fromYaml -}}
{{- with include "archangel.database.caSecret" . -}}
# Only the CA certificates (never a key): what verify-full and https check the servers by.
{{ include "archangel.dataTLS.caVolume" (dict "volume" "database-ca" "secret" .) }}
{{ end -}}
{{- with include "archangel.vectorStore.caSecret" . -}}
{{ include "archangel.dataTLS.caVolume" (dict "volume" "vectorstore-ca" "secret" .) }}
{{ end -}}
- name: credentials
  projected:
    defaultMode: 0440
    sources:
      - secret:
          name: {{ $db.name }}
          items:
            - key: {{ $db.key }}
              path: database-password
      - secret:
          name: {{ $qdrant.name }}
          items:
            - key: {{ $qdrant.key }}
              path: qdrant-api-key
{{- end -}}

{{/*
What the secrets hook must create: one entry per key no existingSecret provides. Length is in characters;
alphabets: alphanumeric, urlsafe (A-Z a-z 0-9 - _), hex.
*/}}
{{- define "archangel.generatedKeys" -}}
{{- $keys := list -}}
{{- if not .Values.database.auth.existingSecret -}}
{{- if eq (include "archangel.database.mode" .) "cloudnativepg" -}}
{{- $keys = append $keys (dict "name" "username" "value" .Values.database.auth.username) -}}
{{- $keys = append $keys (dict "name" "password" "length" 32 "alphabet" "alphanumeric") -}}
{{- else -}}
{{- $keys = append $keys (dict "name" "database-password" "length" 32 "alphabet" "alphanumeric") -}}
{{- end -}}
{{- end -}}
{{- if not .Values.vectorStore.auth.existingSecret -}}
{{- $keys = append $keys (dict "name" "qdrant-api-key" "length" 48 "alphabet" "urlsafe") -}}
{{- end -}}
{{- if not .Values.backup.encryption.existingSecret -}}
{{- $keys = append $keys (dict "name" "backup-encryption-key" "length" 64 "alphabet" "urlsafe") -}}
{{- $keys = append $keys (dict "name" "backup-mac-key" "length" 64 "alphabet" "hex") -}}
{{- end -}}
{{- toJson $keys -}}
{{- end -}}
