{{/*
The data tier as the workloads see it: where PostgreSQL and Qdrant are and where their credentials come from,
whether the chart runs them or they are external.
*/}}

{{/* The Secret the pre-install hook creates; never rendered by the chart (see hooks/). */}}
{{- define "archangel.generatedSecretName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "generated") -}}
{{- end -}}

{{- define "archangel.database.host" -}}
{{- if .Values.database.external.enabled -}}
{{- required "database.external.host is required when database.external.enabled is true" .Values.database.external.host -}}
{{- else -}}
{{- printf "%s.%s.svc" (include "archangel.componentName" (dict "root" . "component" "postgresql")) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{- define "archangel.database.port" -}}
{{- if .Values.database.external.enabled }}{{ .Values.database.external.port }}{{ else }}{{ .Values.database.postgresql.service.port }}{{ end -}}
{{- end -}}

{{/* secretKeyRef of the database password: the existing Secret, else the generated one. */}}
{{- define "archangel.database.passwordRef" -}}
{{- if .Values.database.auth.existingSecret -}}
name: {{ .Values.database.auth.existingSecret }}
key: {{ .Values.database.auth.existingSecretPasswordKey }}
{{- else -}}
{{- if .Values.database.external.enabled -}}
{{- fail "database.external.enabled is true: set database.auth.existingSecret to the Secret holding the external database's password" -}}
{{- end -}}
name: {{ include "archangel.generatedSecretName" . }}
key: database-password
{{- end -}}
{{- end -}}

{{- define "archangel.vectorStore.url" -}}
{{- if .Values.vectorStore.external.enabled -}}
{{- required "vectorStore.external.url is required when vectorStore.external.enabled is true" .Values.vectorStore.external.url -}}
{{- else -}}
{{- printf "http://%s.%s.svc:%v" (include "archangel.componentName" (dict "root" . "component" "qdrant")) .Release.Namespace .Values.vectorStore.qdrant.service.ports.http -}}
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
  value: {{ ternary .Values.database.external.sslmode "disable" .Values.database.external.enabled | quote }}
- name: DATABASE_PASSWORD_FILE
  value: /etc/archangel/credentials/database-password
- name: QDRANT_URL
  value: {{ include "archangel.vectorStore.url" . | quote }}
- name: QDRANT_API_KEY_FILE
  value: /etc/archangel/credentials/qdrant-api-key
{{- end -}}

{{/*
Credentials as files, not environment variables (environments leak into crash reports, /proc and child
processes): whichever Secrets hold them, they appear under /etc/archangel/credentials with fixed names.
*/}}
{{- define "archangel.credentialsVolume" -}}
{{- $db := include "archangel.database.passwordRef" . | fromYaml -}}
{{- $qdrant := include "archangel.vectorStore.apiKeyRef" . | fromYaml -}}
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
{{- $keys = append $keys (dict "name" "database-password" "length" 32 "alphabet" "alphanumeric") -}}
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
