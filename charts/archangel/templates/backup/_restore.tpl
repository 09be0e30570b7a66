{{/*
The disaster-recovery restore (templates/backup/restore-job.yaml) and maintenance mode.
*/}}

{{/* The request's claim: a ConfigMap of this name, and the prefix of the Job's name. */}}
{{- define "archangel.restore.requestName" -}}
{{- printf "%s-restore-%s" (include "archangel.fullname" .) .Values.restore.requestId -}}
{{- end -}}

{{- define "archangel.restore.serviceAccountName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "restore") -}}
{{- end -}}

{{/* True when the restore writes into the database or collections the application is using. */}}
{{- define "archangel.restore.overwritesLiveData" -}}
{{- $r := .Values.restore -}}
{{- if and $r.force (or (eq $r.target "vectorstore") (eq (default .Values.database.auth.database $r.intoDatabase) .Values.database.auth.database)) -}}true{{- end -}}
{{- end -}}

{{- define "archangel.restore.checks" -}}
{{- $r := .Values.restore -}}
{{- if not $r.requestId -}}
{{- fail "restore.requestId: name this restore (lower-case letters, digits and '-', at most 15 characters, e.g. inc-2026-12-04): the restore runs once per request id, and a new id is a new restore" -}}
{{- end -}}
{{- if and $r.collections (ne $r.target "vectorstore") -}}
{{- fail "restore.collections applies to restore.target vectorstore only" -}}
{{- end -}}
{{- if and (include "archangel.restore.overwritesLiveData" .) (not .Values.maintenance.enabled) -}}
{{- fail (printf "restore.force into the live %s needs maintenance.enabled=true in the same upgrade: core and agents would keep writing while it is replaced (docs/DISASTER_RECOVERY.md)" (ternary "database" "vector store" (eq $r.target "database"))) -}}
{{- end -}}
{{- end -}}
