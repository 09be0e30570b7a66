{{/*
Names. The fullname is capped at 30 characters so that "<fullname>-<component>" stays within 52: the limit
for CronJob names (the controller appends 11 characters to make Job names) and for StatefulSets (whose pods
carry a 63-character controller-revision-hash label). Component suffixes are at most 21 characters.
*/}}
{{- define "archangel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "archangel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 30 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 30 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>"; call with (dict "root" $ "component" "core"). */}}
{{- define "archangel.componentName" -}}
{{- $component := .component -}}
{{- if gt (len $component) 21 -}}
{{- fail (printf "internal: component suffix %q is longer than 21 characters" $component) -}}
{{- end -}}
{{- printf "%s-%s" (include "archangel.fullname" .root) $component -}}
{{- end -}}

{{- define "archangel.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels: stable for the life of a release (a Deployment's selector is immutable), so they never
include the chart or app version.
*/}}
{{- define "archangel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "archangel.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "archangel.labels" -}}
helm.sh/chart: {{ include "archangel.chart" .root }}
{{ include "archangel.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: archangel
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Labels of a data-tier pod template: the selector labels and the stable ones, without helm.sh/chart and
app.kubernetes.io/version. Those change with every chart release, and in a pod template a changed label is a
rolling restart: of PostgreSQL and Qdrant, for nothing they run differently.
*/}}
{{- define "archangel.podLabels" -}}
{{ include "archangel.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: archangel
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Argo CD sync waves: storage, then data, then the workloads (core before agents), then what observes them.
Helm ignores the annotation; Argo CD applies lower waves first and waits for them to be healthy.
*/}}
{{- define "archangel.syncWave" -}}
{{- $waves := dict "namespace" "-5" "scheduling" "-4" "storage" "-4" "pg-object-store" "-3" "postgresql" "-2" "pg-recovery" "-2" "pgbouncer" "-1" "pg-base-backup" "-1" "qdrant" "-2" "core" "0" "agents" "1" "monitoring" "2" "backup" "2" -}}
{{- default (get $waves .component) .wave -}}
{{- end -}}

{{/*
Standard metadata block: name, namespace, labels, the sync wave, and the common annotations merged with any
given. Call with (dict "root" $ "component" "core" ["name" "override"] ["annotations" (dict ...)]
["wave" "2"] ["labels" (dict ...)] ["clusterScoped" true]).
*/}}
{{- define "archangel.metadata" -}}
name: {{ default (include "archangel.componentName" .) .name }}
{{- if not .clusterScoped }}
namespace: {{ .root.Release.Namespace }}
{{- end }}
labels:
  {{- include "archangel.labels" . | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (deepCopy (default (dict) .annotations)) (default (dict) .root.Values.commonAnnotations) }}
{{- /* checkov's own waivers, on the object they waive: (dict "CKV_K8S_40" "why") -> checkov.io/skipN: ID=why */}}
{{- range $index, $id := keys (default (dict) .checkov) | sortAlpha }}
{{- $_ := set $annotations (printf "checkov.io/skip%d" (add1 $index)) (printf "%s=%s" $id (index $.checkov $id)) }}
{{- end }}
{{- with include "archangel.syncWave" . }}
{{- $_ := set $annotations "argocd.argoproj.io/sync-wave" . }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Image reference: registry/repository:tag, or @digest when a digest is given (the tag is then kept for
readability: registry/repository:tag@digest). "latest" and empty tags are refused.
Call with (dict "image" .Values.core.image "root" $ "field" "core.image").
*/}}
{{- define "archangel.image" -}}
{{- $image := .image -}}
{{- /* Bitnami's precedence: global.imageRegistry, when set, wins over each image's own registry (a mirror). */ -}}
{{- $registry := default $image.registry .root.Values.global.imageRegistry -}}
{{- $tag := toString (default "" $image.tag) -}}
{{- if or (eq $tag "") (eq $tag "latest") -}}
{{- fail (printf "%s.tag: %q is not allowed; pin an exact version (and optionally a digest)" .field $tag) -}}
{{- end -}}
{{- $reference := printf "%s:%s" $image.repository $tag -}}
{{- if $registry -}}
{{- $reference = printf "%s/%s" $registry $reference -}}
{{- end -}}
{{- if $image.digest -}}
{{- $reference = printf "%s@%s" $reference $image.digest -}}
{{- else if .root.Values.global.requireImageDigests -}}
{{- fail (printf "%s.digest: global.requireImageDigests is set, so every image is pulled by digest (sha256:...)" .field) -}}
{{- end -}}
{{- $reference -}}
{{- end -}}

{{/*
Pod Security Standard "restricted": the pod-level part. Values may add fields (fsGroup, supplementalGroups)
but not weaken the profile; the schema forbids the keys that would.
*/}}
{{- define "archangel.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* Pod Security Standard "restricted": the container-level part, with a read-only root filesystem. */}}
{{- define "archangel.containerSecurityContext" -}}
{{- $defaults := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* The imagePullSecrets field, or nothing; use with `with` so an empty result leaves no blank line. */}}
{{- define "archangel.imagePullSecrets" -}}
{{- $secrets := concat (default (list) .Values.global.imagePullSecrets) (default (list) .Values.imagePullSecrets) | uniq -}}
{{- if $secrets -}}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Whether the cluster serves an API (group/version/Kind), as Helm and Argo CD report capabilities. */}}
{{- define "archangel.hasAPI" -}}
{{- if .root.Capabilities.APIVersions.Has .api -}}true{{- end -}}
{{- end -}}

{{/*
"true" when the cluster serves the custom metrics API (prometheus-adapter registers it): the HPA's Pods metrics
render only then, because an HPA that cannot read one of its metrics refuses to scale down at all.
*/}}
{{- define "archangel.customMetricsServed" -}}
{{- if or (.Capabilities.APIVersions.Has "custom.metrics.k8s.io/v1beta2") (.Capabilities.APIVersions.Has "custom.metrics.k8s.io/v1beta1") -}}true{{- end -}}
{{- end -}}

{{/* Labels every pod of the release carries, hooks and jobs included: what the default-deny policy selects. */}}
{{- define "archangel.releaseSelector" -}}
app.kubernetes.io/name: {{ include "archangel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
