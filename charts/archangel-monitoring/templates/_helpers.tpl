{{/*
Names: the fullname is capped at 30 characters so "<fullname>-<component>" fits the 52-character limit of
CronJob and StatefulSet names. Kept in step with charts/archangel/templates/_helpers.tpl.
*/}}
{{- define "monitoring.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "monitoring.fullname" -}}
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

{{- define "monitoring.componentName" -}}
{{- if gt (len .component) 21 -}}
{{- fail (printf "internal: component suffix %q is longer than 21 characters" .component) -}}
{{- end -}}
{{- printf "%s-%s" (include "monitoring.fullname" .root) .component -}}
{{- end -}}

{{- define "monitoring.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
app.kubernetes.io/name: the upstream application for the servers this chart runs (prometheus, alertmanager,
grafana, pushgateway, kube-state-metrics), as kube-prometheus-stack labels them, so policies written for those
(such as the application chart's networkPolicy.prometheus.podLabels) select ours too; the chart name otherwise.
*/}}
{{- define "monitoring.appName" -}}
{{- $apps := dict "prometheus" "prometheus" "alertmanager" "alertmanager" "grafana" "grafana" "pushgateway" "pushgateway" "kube-state-metrics" "kube-state-metrics" -}}
{{- default (include "monitoring.name" .root) (get $apps .component) -}}
{{- end -}}

{{/* Selector labels: stable for the life of a release, so never the chart or app version. */}}
{{- define "monitoring.selectorLabels" -}}
app.kubernetes.io/name: {{ include "monitoring.appName" . }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "monitoring.labels" -}}
helm.sh/chart: {{ include "monitoring.chart" .root }}
{{ include "monitoring.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: archangel
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels every pod of the release carries, hooks and jobs included: what the default-deny policy selects. */}}
{{- define "monitoring.releaseSelector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/part-of: archangel
{{- end -}}

{{/*
Standard metadata block. (dict "root" $ "component" "x" ["name" "override"] ["annotations" (dict)]
["labels" (dict)] ["clusterScoped" true])
*/}}
{{- define "monitoring.metadata" -}}
name: {{ default (include "monitoring.componentName" .) .name }}
{{- if not .clusterScoped }}
namespace: {{ default .root.Release.Namespace .namespace }}
{{- end }}
labels:
  {{- include "monitoring.labels" . | nindent 2 }}
  {{- with .labels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- $annotations := merge (deepCopy (default (dict) .annotations)) (default (dict) .root.Values.commonAnnotations) }}
{{- /* checkov's own waivers, on the object they waive: (dict "CKV_K8S_40" "why") -> checkov.io/skipN: ID=why */}}
{{- range $index, $id := keys (default (dict) .checkov) | sortAlpha }}
{{- $_ := set $annotations (printf "checkov.io/skip%d" (add1 $index)) (printf "%s=%s" $id (index $.checkov $id)) }}
{{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Metadata of a custom resource for prometheus-operator: the operator's selector labels, and Argo CD told
not to dry-run it before the CRD exists. (dict "root" $ "component" "x") */}}
{{- define "monitoring.operatorMetadata" -}}
{{- include "monitoring.metadata" (merge (dict "labels" .root.Values.operator.additionalLabels "annotations" (dict "argocd.argoproj.io/sync-options" "SkipDryRunOnMissingResource=true")) .) -}}
{{- end -}}

{{/*
Image reference: registry/repository:tag[@digest]. "latest" and empty tags are refused.
(dict "image" .Values.prometheus.image "root" $ "field" "prometheus.image")
*/}}
{{- define "monitoring.image" -}}
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

{{/* Pod Security Standard "restricted", pod level; values may add fields but the schema forbids weakening. */}}
{{- define "monitoring.podSecurityContext" -}}
{{- $defaults := dict "runAsNonRoot" true "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* Pod Security Standard "restricted", container level, with a read-only root filesystem. */}}
{{- define "monitoring.containerSecurityContext" -}}
{{- $defaults := dict "allowPrivilegeEscalation" false "readOnlyRootFilesystem" true "runAsNonRoot" true "capabilities" (dict "drop" (list "ALL")) "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $defaults (deepCopy (default (dict) .))) -}}
{{- end -}}

{{/* The imagePullSecrets field, or nothing. */}}
{{- define "monitoring.imagePullSecrets" -}}
{{- $secrets := concat (default (list) .Values.global.imagePullSecrets) (default (list) .Values.imagePullSecrets) | uniq -}}
{{- if $secrets -}}
imagePullSecrets:
{{- range $secrets }}
  - name: {{ . }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* "true" in standalone mode. */}}
{{- define "monitoring.standalone" -}}
{{- if eq .Values.mode "standalone" -}}true{{- end -}}
{{- end -}}

{{/* Whether each server this chart may run is rendered. */}}
{{- define "monitoring.prometheus.enabled" -}}
{{- if and (include "monitoring.standalone" .) .Values.prometheus.enabled -}}true{{- end -}}
{{- end -}}
{{- define "monitoring.alertmanager.enabled" -}}
{{- if and (include "monitoring.standalone" .) .Values.alertmanager.enabled -}}true{{- end -}}
{{- end -}}
{{- define "monitoring.grafana.enabled" -}}
{{- if and (include "monitoring.standalone" .) .Values.grafana.enabled -}}true{{- end -}}
{{- end -}}
{{- define "monitoring.kubeStateMetrics.enabled" -}}
{{- if and (include "monitoring.standalone" .) .Values.kubeStateMetrics.enabled -}}true{{- end -}}
{{- end -}}

{{/*
Scheduling fields shared by every workload: (dict "values" .Values.prometheus ["root" $ "component" "prometheus"]).
With root and component, a workload of more than one replica that sets no affinity of its own gets its
podAntiAffinity preset: replicas on different nodes (soft: preferred; hard: required), and spread over zones
where the cluster has them. Without it "HA" replicas may share a node, and one drain takes them all. Deployments
also key on pod-template-hash, so a rollout's surge pod keeps apart from its peers, not from the pods it replaces.
*/}}
{{- define "monitoring.scheduling" -}}
{{- $v := .values -}}
{{- $preset := "" -}}
{{- if and .root (not $v.affinity) (gt (int (default 1 $v.replicas)) 1) -}}
{{- $preset = default "" $v.podAntiAffinity -}}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $preset }}
{{- $term := dict "topologyKey" "kubernetes.io/hostname" "labelSelector" (dict "matchLabels" (include "monitoring.selectorLabels" . | fromYaml)) }}
{{- if .deployment }}{{ $_ := set $term "matchLabelKeys" (list "pod-template-hash") }}{{ end }}
affinity:
  podAntiAffinity:
    {{- if eq $preset "hard" }}
    requiredDuringSchedulingIgnoredDuringExecution:
      - {{ toYaml $term | nindent 8 | trim }}
    {{- else }}
    preferredDuringSchedulingIgnoredDuringExecution:
      - weight: 100
        podAffinityTerm:
          {{- toYaml $term | nindent 10 }}
    {{- end }}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "monitoring.selectorLabels" . | nindent 8 }}
    {{- if .deployment }}
    matchLabelKeys:
      - pod-template-hash
    {{- end }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{/*
A PodDisruptionBudget for a server with more than one replica: maxUnavailable only, so a voluntary eviction
is always possible. (dict "root" $ "component" "prometheus" "values" .Values.prometheus)
*/}}
{{- define "monitoring.pdb" -}}
{{- $v := .values -}}
{{- if and $v.pdb.enabled (gt (int $v.replicas) 1) }}
{{- if or (eq (toString $v.pdb.maxUnavailable) "0") (eq (toString $v.pdb.maxUnavailable) "0%") }}
{{- fail (printf "%s.pdb.maxUnavailable is %v: no pod could ever be evicted, so node drains would block" .component $v.pdb.maxUnavailable) }}
{{- end }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "monitoring.metadata" . | nindent 2 }}
spec:
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  # A pod that never became ready protects nothing; let drains evict it.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "monitoring.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{/* A PVC template's storageClassName line, or nothing for the cluster default. */}}
{{- define "monitoring.storageClass" -}}
{{- if .storageClassName }}
storageClassName: {{ .storageClassName }}
{{- end }}
{{- end -}}

{{/* In-cluster base URLs of the servers this chart runs. */}}
{{- define "monitoring.prometheus.url" -}}
{{- printf "http://%s.%s.svc:%d" (include "monitoring.componentName" (dict "root" . "component" "prometheus")) .Release.Namespace (int .Values.prometheus.service.port) -}}
{{- end -}}
{{- define "monitoring.alertmanager.url" -}}
{{- printf "http://%s.%s.svc:%d" (include "monitoring.componentName" (dict "root" . "component" "alertmanager")) .Release.Namespace (int .Values.alertmanager.service.port) -}}
{{- end -}}
{{- define "monitoring.pushgateway.url" -}}
{{- if .Values.pushgateway.enabled -}}
{{- printf "http://%s.%s.svc:%d" (include "monitoring.componentName" (dict "root" . "component" "pushgateway")) .Release.Namespace (int .Values.pushgateway.service.port) -}}
{{- else -}}
{{- .Values.pushgateway.externalURL -}}
{{- end -}}
{{- end -}}

{{/*
A rules file as Prometheus gets it. The files select Archangel's objects by name pattern and by namespace: every
selector that a shared Prometheus also matches for other teams (kube-state-metrics, kubelet, targets' up)
carries the matcher below, which stands for the namespaces of environments.yaml in files/rules (so promtool
tests them as they are) and becomes rules.namespaces here. (dict "root" $ "path" "files/rules/x.yaml")
*/}}
{{- define "monitoring.rulesFile" -}}
{{- $namespaces := include "monitoring.rules.namespaces" .root | fromJsonArray -}}
{{- .root.Files.Get .path | replace "namespace=~\"archangel|archangel-staging|monitoring\"" (printf "namespace=~%q" (join "|" $namespaces)) -}}
{{- end -}}

{{/* The namespaces whose objects the rules watch, and so the namespaces Archangel's alerts carry (JSON list). */}}
{{- define "monitoring.rules.namespaces" -}}
{{- $namespaces := .Values.rules.namespaces -}}
{{- if not $namespaces -}}
{{- $namespaces = uniq (list .Values.networkPolicy.archangel.namespace .Release.Namespace) -}}
{{- end -}}
{{- toJson $namespaces -}}
{{- end -}}
