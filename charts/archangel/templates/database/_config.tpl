{{/*
PostgreSQL's configuration file, from database.postgresql.parameters. It is a ConfigMap mounted as a directory
(so the kubelet updates it in place) and the server runs with -c config_file=/etc/postgresql/postgresql.conf.
A change of a parameter the server reads at reload (pg_settings.context sighup, superuser, user, ...) is applied
by the config-reloader sidecar (pg_reload_conf) without a restart; only the parameters below, which PostgreSQL
reads at start only (context postmaster), are part of the pod template's checksum, so only their change rolls
the pod. A test compares this list with a real server's pg_settings.
*/}}
{{- define "archangel.postgresql.restartParameters" -}}
{{- toJson (list
  "archive_mode" "autovacuum_max_workers" "cluster_name" "dynamic_shared_memory_type" "huge_pages"
  "huge_page_size" "hot_standby" "jit_provider" "listen_addresses" "logging_collector"
  "max_connections" "max_files_per_process" "max_locks_per_transaction" "max_logical_replication_workers"
  "max_pred_locks_per_transaction" "max_prepared_transactions" "max_replication_slots" "max_wal_senders"
  "max_worker_processes" "port" "shared_buffers" "shared_memory_type" "shared_preload_libraries"
  "superuser_reserved_connections" "track_activity_query_size" "track_commit_timestamp" "unix_socket_directories"
  "unix_socket_group" "unix_socket_permissions" "wal_buffers" "wal_level" "wal_log_hints") -}}
{{- end -}}

{{/* The restart-only subset of the parameters (JSON object): what the pod template's checksum covers. */}}
{{- define "archangel.postgresql.restartSettings" -}}
{{- $restart := include "archangel.postgresql.restartParameters" . | fromJsonArray -}}
{{- $settings := dict -}}
{{- range $key, $value := .Values.database.postgresql.parameters -}}
{{- if has $key $restart -}}
{{- $_ := set $settings $key (toString $value) -}}
{{- end -}}
{{- end -}}
{{- toJson $settings -}}
{{- end -}}

{{- define "archangel.postgresql.conf" -}}
# postgresql.conf of {{ include "archangel.componentName" (dict "root" . "component" "postgresql") }}, rendered by the chart from
# database.postgresql.parameters. A change applies at reload (the config-reloader sidecar), except for the
# parameters read at start only, whose change restarts the pod:
# start-only: {{ include "archangel.postgresql.restartParameters" . | fromJsonArray | join " " }}
listen_addresses = '*'
{{- if include "archangel.postgresql.tls" . }}
# TLS only (pg_hba.conf beside this file refuses plaintext); the certificate's Secret is mounted read-only and
# a renewed certificate takes effect at the reload the config-reloader sends when the files change.
hba_file = '/etc/postgresql/pg_hba.conf'
ssl = on
ssl_cert_file = '/etc/postgresql-tls/tls.crt'
ssl_key_file = '/etc/postgresql-tls/tls.key'
ssl_min_protocol_version = 'TLSv1.2'
{{- else }}
hba_file = '/var/lib/postgresql/data/pgdata/pg_hba.conf'
{{- end }}
ident_file = '/var/lib/postgresql/data/pgdata/pg_ident.conf'
unix_socket_directories = '/var/run/postgresql'
{{- range $key, $value := .Values.database.postgresql.parameters }}
{{ $key }} = '{{ replace "'" "''" (toString $value) }}'
{{- end }}
{{- end -}}


{{/*
Client authentication with TLS: password (SCRAM) over TLS from anywhere, plaintext from nowhere. The local
socket (no network; only the pod's own containers share it) keeps initdb's trust for the config-reloader, as
before. The metrics sidecar connects over TLS to 127.0.0.1 like any client (sslmode=require: the name
127.0.0.1 is not in the certificate, and the traffic never leaves the pod).
*/}}
{{- define "archangel.postgresql.hba" -}}
# TYPE    DATABASE  USER  ADDRESS  METHOD
local     all       all            trust
hostssl   all       all   all      scram-sha-256
hostnossl all       all   all      reject
{{- end -}}
