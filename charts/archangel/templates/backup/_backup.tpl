{{/*
Backup, verification, restore and snapshot jobs share one pod shape: the tools image, the data tier's
credentials and the backup keys as files, scratch disk, and the labels the NetworkPolicies key on.
*/}}

{{- define "archangel.backup.checks" -}}
{{- /* backup.s3.bucket and the jobs' credentials: the site check (_site.tpl) names them when missing. */ -}}
{{- if and (eq .Values.backup.s3.sse "aws:kms") .Values.backup.s3.endpoint (not .Values.backup.s3.kmsKeyId) -}}
{{- fail "backup.s3.sse is aws:kms with a custom backup.s3.endpoint: set backup.s3.kmsKeyId, or sse to AES256 or \"\" for an S3-compatible store" -}}
{{- end -}}
{{- end -}}

{{- define "archangel.backup.keysRef" -}}
{{- if .Values.backup.encryption.existingSecret -}}
name: {{ .Values.backup.encryption.existingSecret }}
encryption: {{ .Values.backup.encryption.encryptionKeyKey }}
mac: {{ .Values.backup.encryption.macKeyKey }}
{{- else -}}
name: {{ include "archangel.generatedSecretName" . }}
encryption: backup-encryption-key
mac: backup-mac-key
{{- end -}}
{{- end -}}

{{- define "archangel.backup.serviceAccountName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "backup") -}}
{{- end -}}

{{- define "archangel.backup.pruneServiceAccountName" -}}
{{- include "archangel.componentName" (dict "root" . "component" "backup-prune") -}}
{{- end -}}

{{/* Environment of every backup job: where the bucket, the keys, PostgreSQL and Qdrant are. */}}
{{- define "archangel.backup.env" -}}
{{- $r := .root -}}
{{- $b := $r.Values.backup -}}
- name: ARCHANGEL_LOG_FORMAT
  value: {{ $r.Values.tools.logFormat | quote }}
- name: ARCHANGEL_BACKUP_BUCKET
  value: {{ $b.s3.bucket | quote }}
- name: ARCHANGEL_BACKUP_PREFIX
  value: {{ printf "%s/%s" $b.s3.prefix $r.Release.Name | quote }}
- name: AWS_REGION
  value: {{ $b.s3.region | quote }}
{{- with $b.s3.endpoint }}
- name: ARCHANGEL_BACKUP_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with $b.s3.sse }}
- name: ARCHANGEL_BACKUP_SSE
  value: {{ . | quote }}
{{- end }}
{{- with $b.s3.kmsKeyId }}
- name: ARCHANGEL_BACKUP_KMS_KEY_ID
  value: {{ . | quote }}
{{- end }}
{{- if $b.s3.existingSecret }}
- name: ARCHANGEL_S3_ACCESS_KEY_FILE
  value: /etc/archangel/s3/accessKeyId
- name: ARCHANGEL_S3_SECRET_KEY_FILE
  value: /etc/archangel/s3/secretAccessKey
{{- end }}
- name: ARCHANGEL_BACKUP_ENCRYPTION_KEY_FILE
  value: /etc/archangel/backup-keys/encryption-key
- name: ARCHANGEL_BACKUP_MAC_KEY_FILE
  value: /etc/archangel/backup-keys/mac-key
- name: ARCHANGEL_BACKUP_COMPRESSION_LEVEL
  value: {{ $b.compressionLevel | quote }}
{{- if not .storeOnly }}
{{- if .isolated }}
# The verification pod's own PostgreSQL and Qdrant (sidecars): a test restore never touches production.
- name: PGHOST
  value: "127.0.0.1"
- name: PGPORT
  value: "5432"
{{- else }}
- name: PGHOST
  {{- /* The dump reads a replica; restores and checks write or read the primary, never through PgBouncer. */}}
  value: {{ include (ternary "archangel.database.backupHost" "archangel.database.directHost" (eq .component "backup-database")) $r | quote }}
- name: PGPORT
  value: {{ include "archangel.database.port" $r | quote }}
{{- end }}
- name: PGUSER
  value: {{ $r.Values.database.auth.username | quote }}
- name: PGDATABASE
  value: {{ $r.Values.database.auth.database | quote }}
- name: PGSSLMODE
  value: {{ ternary "disable" (include "archangel.database.sslmode" $r) (not (not .isolated)) | quote }}
{{- if and (include "archangel.database.caSecret" $r) (not .isolated) }}
- name: PGSSLROOTCERT
  value: /etc/archangel/database-ca/ca.crt
{{- end }}
- name: ARCHANGEL_PG_PASSWORD_FILE
  value: /etc/archangel/credentials/database-password
- name: QDRANT_URL
  value: {{ ternary "http://127.0.0.1:6333" (include "archangel.vectorStore.url" $r) (not (not .isolated)) | quote }}
- name: QDRANT_API_KEY_FILE
  value: /etc/archangel/credentials/qdrant-api-key
{{- if and (include "archangel.vectorStore.caSecret" $r) (not .isolated) }}
- name: QDRANT_CA_CERT_FILE
  value: /etc/archangel/vectorstore-ca/ca.crt
{{- end }}
{{- end }}
{{- with $b.pushgateway.url }}
- name: ARCHANGEL_PUSHGATEWAY_URL
  value: {{ . | quote }}
{{- end }}
# Restores and verifications decrypt whole dumps: to the scratch volume, not the container's filesystem.
- name: TMPDIR
  value: /scratch
{{- end -}}

{{/*
The data jobs' volumes: (dict "root" $ "component" "backup-verify" ["ephemeralScratch" true]). Verification
and restore jobs download and decrypt a whole dump into /scratch; with backup.scratch.ephemeral.size set they
get a volume of their own for it (a generic ephemeral volume: a claim created with the pod and deleted with
it), so the dump is bounded by that size, not by the node's free disk.
*/}}
{{- define "archangel.backup.volumes" -}}
{{- $root := .root -}}
{{- $keys := include "archangel.backup.keysRef" $root | fromYaml -}}
{{- $scratch := $root.Values.backup.scratch -}}
{{- if not .storeOnly }}
{{- include "archangel.credentialsVolume" $root }}
{{- end }}
- name: backup-keys
  secret:
    secretName: {{ $keys.name }}
    defaultMode: 0440
    items:
      - key: {{ $keys.encryption }}
        path: encryption-key
      - key: {{ $keys.mac }}
        path: mac-key
{{- with $root.Values.backup.s3.existingSecret }}
- name: s3-credentials
  secret:
    secretName: {{ . }}
    defaultMode: 0440
    items:
      - key: accessKeyId
        path: accessKeyId
      - key: secretAccessKey
        path: secretAccessKey
{{- end }}
{{- if and .ephemeralScratch $scratch.ephemeral.size }}
{{- range $key := list "fast" "standard" "scratch" }}
{{- $class := index $root.Values.storage.classes $key }}
{{- if and $root.Values.storage.classes.create (eq $class.name $scratch.ephemeral.storageClassName) (eq $class.reclaimPolicy "Retain") }}
{{- fail (printf "backup.scratch.ephemeral.storageClassName: %s (storage.classes.%s) has reclaimPolicy Retain, so every verification or restore run would leave its %s volume behind; use a class with reclaimPolicy Delete, e.g. storage.classes.scratch (%s)" $class.name $key $scratch.ephemeral.size $root.Values.storage.classes.scratch.name) }}
{{- end }}
{{- end }}
- name: scratch
  ephemeral:
    volumeClaimTemplate:
      metadata:
        # Not app.kubernetes.io/name: the snapshot job selects the data volumes by name and instance.
        labels:
          app.kubernetes.io/instance: {{ $root.Release.Name }}
          app.kubernetes.io/component: {{ .component }}
          app.kubernetes.io/part-of: archangel
          archangel.io/scratch: "true"
      spec:
        accessModes:
          - ReadWriteOnce
        {{- with $scratch.ephemeral.storageClassName }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ $scratch.ephemeral.size }}
{{- else }}
- name: scratch
  emptyDir:
    sizeLimit: {{ $scratch.sizeLimit }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}

{{- define "archangel.backup.volumeMounts" -}}
{{- $root := .root -}}
{{- if not .storeOnly }}
- name: credentials
  mountPath: /etc/archangel/credentials
  readOnly: true
{{- if include "archangel.database.caSecret" $root }}
- name: database-ca
  mountPath: /etc/archangel/database-ca
  readOnly: true
{{- end }}
{{- if include "archangel.vectorStore.caSecret" $root }}
- name: vectorstore-ca
  mountPath: /etc/archangel/vectorstore-ca
  readOnly: true
{{- end }}
{{- end }}
- name: backup-keys
  mountPath: /etc/archangel/backup-keys
  readOnly: true
{{- if $root.Values.backup.s3.existingSecret }}
- name: s3-credentials
  mountPath: /etc/archangel/s3
  readOnly: true
{{- end }}
- name: scratch
  mountPath: /scratch
- name: tmp
  mountPath: /tmp
{{- end -}}

{{/*
The pod template of a backup job. (dict "root" $ "component" "backup-database" "command" (list ...)
["serviceAccount" name] ["kubeApi" true] ["ephemeralScratch" true] ["restoreRequest" true]). A kubeApi job (the snapshot job) talks to
the API server and the Pushgateway only: it gets no data-tier credentials, no backup keys and no route to the
data tier. ephemeralScratch: the job restores whole dumps (verification, restore), see archangel.backup.volumes.
*/}}
{{- define "archangel.backup.podTemplate" -}}
{{- $root := .root -}}
{{- $data := not .kubeApi -}}
metadata:
  annotations:
    # Under Istio, a classic sidecar never exits and the Job never completes; a native one stops with it.
    sidecar.istio.io/nativeSidecar: "true"
  labels:
    {{- include "archangel.labels" . | nindent 4 }}
    {{- include "archangel.mesh.injectLabel" $root | nindent 4 }}
    # What the NetworkPolicies let this pod reach.
    archangel.io/pushgateway-client: "true"
    {{- if and $data (not .storeOnly) }}
    archangel.io/data-client: "true"
    {{- end }}
    {{- if $data }}
    archangel.io/object-storage-client: "true"
    {{- end }}
    {{- if or (not $data) .restoreRequest }}
    archangel.io/kube-api-client: "true"
    {{- end }}
spec:
  restartPolicy: Never
  serviceAccountName: {{ default (include "archangel.backup.serviceAccountName" $root) .serviceAccount }}
  {{- /* The snapshot job and the restore (its one-shot claim) use the API; the others get no token. */}}
  automountServiceAccountToken: {{ or (not $data) (not (not .restoreRequest)) }}
  enableServiceLinks: false
  {{- with include "archangel.imagePullSecrets" $root }}
  {{- . | nindent 2 }}
  {{- end }}
  securityContext:
    {{- include "archangel.podSecurityContext" $root.Values.tools.podSecurityContext | nindent 4 }}
  {{- if .isolatedVerify }}
  initContainers:
    {{- include "archangel.backup.verifySidecars" $root | trim | nindent 4 }}
  {{- end }}
  containers:
    - name: {{ .component }}
      image: {{ include "archangel.image" (dict "image" $root.Values.tools.image "root" $root "field" "tools.image") }}
      imagePullPolicy: {{ $root.Values.tools.image.pullPolicy }}
      command:
        {{- toYaml .command | nindent 8 }}
      env:
        {{- if $data }}
        {{- include "archangel.backup.env" (dict "root" $root "isolated" .isolatedVerify "storeOnly" .storeOnly "component" .component) | nindent 8 }}
        {{- else }}
        {{- with $root.Values.backup.pushgateway.url }}
        - name: ARCHANGEL_PUSHGATEWAY_URL
          value: {{ . | quote }}
        {{- end }}
        {{- end }}
        - name: POD_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
      resources:
        {{- toYaml $root.Values.backup.resources | nindent 8 }}
      securityContext:
        {{- include "archangel.containerSecurityContext" (dict) | nindent 8 }}
      volumeMounts:
        {{- if $data }}
        {{- include "archangel.backup.volumeMounts" (dict "root" $root "storeOnly" .storeOnly) | nindent 8 }}
        {{- else }}
        - name: tmp
          mountPath: /tmp
        {{- end }}
  volumes:
    {{- if $data }}
    {{- include "archangel.backup.volumes" (dict "root" $root "component" .component "ephemeralScratch" .ephemeralScratch "storeOnly" .storeOnly) | nindent 4 }}
    {{- if .isolatedVerify }}
    - name: verify-pg-run
      emptyDir:
        sizeLimit: 1Mi
    - name: verify-pg-shm
      emptyDir:
        medium: Memory
        sizeLimit: 256Mi
    {{- end }}
    {{- else }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
    {{- end }}
{{- end -}}

{{/* A CronJob around the pod template. Adds the annotations `plan` and the alerts read. */}}
{{- define "archangel.backup.cronJob" -}}
{{- $root := .root -}}
{{- $jobs := $root.Values.backup.jobs -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  {{- include "archangel.metadata" (merge (dict "wave" "2" "annotations" (dict "archangel.io/backup-target" .target "archangel.io/retention" (default "-" .retention))) .) | nindent 2 }}
spec:
  schedule: {{ .schedule | quote }}
  timeZone: {{ $root.Values.backup.timeZone }}
  concurrencyPolicy: Forbid
  # maintenance.enabled: no backup of a database being restored, no prune while the newest backups matter most.
  suspend: {{ $root.Values.maintenance.enabled }}
  startingDeadlineSeconds: {{ $jobs.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $jobs.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $jobs.failedJobsHistoryLimit }}
  jobTemplate:
    spec:
      backoffLimit: {{ $jobs.backoffLimit }}
      activeDeadlineSeconds: {{ $jobs.activeDeadlineSeconds }}
      template:
        {{- include "archangel.backup.podTemplate" . | nindent 8 }}
{{- end -}}


{{/*
The verification pod's own PostgreSQL and Qdrant: native sidecars (init containers that keep running; the
verification starts once both pass their startup probes, and they stop when it ends), with their data on the
scratch volume. A test restore into the production servers would put a full copy on their disks and in their
memory; here it costs the scratch volume only. Same images as the production servers, so a dump or snapshot
that restores here restores there.
*/}}
{{- define "archangel.backup.verifySidecars" -}}
{{- $pg := .Values.database.postgresql -}}
{{- $q := .Values.vectorStore.qdrant -}}
{{- $v := .Values.backup.verify -}}
{{- $pgready := "exec pg_isready -h 127.0.0.1 -p 5432 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"" -}}
{{- if .Values.backup.database.enabled }}
- name: verify-postgresql
  image: {{ include "archangel.image" (dict "image" $pg.image "root" . "field" "database.postgresql.image") }}
  imagePullPolicy: {{ $pg.image.pullPolicy }}
  restartPolicy: Always
  # A throwaway server on the pod's loopback: durability settings off, it is dropped with the pod.
  args: ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
  env:
    - name: POSTGRES_USER
      value: {{ .Values.database.auth.username | quote }}
    - name: POSTGRES_DB
      value: {{ .Values.database.auth.database | quote }}
    - name: POSTGRES_PASSWORD_FILE
      value: /etc/archangel/credentials/database-password
    - name: PGDATA
      value: /scratch/postgresql
    - name: POSTGRES_HOST_AUTH_METHOD
      value: scram-sha-256
  startupProbe:
    exec:
      command: ["/bin/sh", "-c", {{ $pgready | quote }}]
    periodSeconds: 2
    timeoutSeconds: 5
    failureThreshold: 150
  resources:
    {{- toYaml $v.postgresql.resources | nindent 4 }}
  securityContext:
    {{- include "archangel.containerSecurityContext" (dict "runAsUser" 999 "runAsGroup" 999) | nindent 4 }}
  volumeMounts:
    - name: scratch
      mountPath: /scratch
    - name: verify-pg-run
      mountPath: /var/run/postgresql
    - name: verify-pg-shm
      mountPath: /dev/shm
    - name: tmp
      mountPath: /tmp
    - name: credentials
      mountPath: /etc/archangel/credentials
      readOnly: true
{{- end }}
{{- if .Values.backup.vectorStore.enabled }}
- name: verify-qdrant
  image: {{ include "archangel.image" (dict "image" $q.image "root" . "field" "vectorStore.qdrant.image") }}
  imagePullPolicy: {{ $q.image.pullPolicy }}
  restartPolicy: Always
  env:
    - name: QDRANT__SERVICE__HTTP_PORT
      value: "6333"
    - name: QDRANT__SERVICE__GRPC_PORT
      value: "6334"
    - name: QDRANT__STORAGE__STORAGE_PATH
      value: /scratch/qdrant/storage
    - name: QDRANT__STORAGE__SNAPSHOTS_PATH
      value: /scratch/qdrant/snapshots
    - name: QDRANT__STORAGE__TEMP_PATH
      value: /scratch/qdrant/tmp
    - name: QDRANT_INIT_FILE_PATH
      value: /scratch/qdrant/.qdrant-initialized
  ports:
    - name: verify-qdrant
      containerPort: 6333
      protocol: TCP
  startupProbe:
    httpGet:
      path: /readyz
      port: verify-qdrant
    periodSeconds: 2
    failureThreshold: 150
  resources:
    {{- toYaml $v.qdrant.resources | nindent 4 }}
  securityContext:
    {{- include "archangel.containerSecurityContext" (dict "runAsUser" 1000 "runAsGroup" 2000) | nindent 4 }}
  volumeMounts:
    - name: scratch
      mountPath: /scratch
    - name: tmp
      mountPath: /tmp
{{- end }}
{{- end -}}
