{{/* CloudNativePG: what the Cluster and the recovery Cluster share, and the object store's credentials. */}}

{{- define "archangel.cnpg.objectStoreCredentials" -}}
{{- if .Values.backup.s3.existingSecret }}
accessKeyId:
  name: {{ .Values.backup.s3.existingSecret }}
  key: accessKeyId
secretAccessKey:
  name: {{ .Values.backup.s3.existingSecret }}
  key: secretAccessKey
{{- else }}
# The instances' ServiceAccount carries backup.serviceAccount.annotations (an IAM role, e.g. EKS IRSA).
inheritFromIAMRole: true
{{- end }}
{{- end }}
{{/* (dict "root" $ "cluster" name) */}}
{{- define "archangel.cnpg.instanceSpec" -}}
{{- $r := .root }}
{{- $cnpg := $r.Values.database.cloudnativepg }}
instances: {{ $cnpg.instances }}
imageName: {{ include "archangel.image" (dict "image" $cnpg.image "root" $r "field" "database.cloudnativepg.image") }}
{{- with $r.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . }}
  {{- end }}
{{- end }}
# The operator restarts or switches over the primary on its own when an update needs it.
primaryUpdateStrategy: unsupervised
primaryUpdateMethod: switchover
postgresql:
  parameters:
    {{- range $name, $value := $cnpg.parameters }}
    {{ $name }}: {{ toString $value | quote }}
    {{- end }}
  synchronous:
    method: {{ $cnpg.synchronous.method }}
    number: {{ $cnpg.synchronous.number }}
    dataDurability: {{ $cnpg.synchronous.dataDurability }}
storage:
  size: {{ $cnpg.storage.size }}
  {{- with $cnpg.storage.storageClass }}
  storageClass: {{ . }}
  {{- end }}
{{- with $cnpg.walStorage }}
walStorage:
  size: {{ .size }}
  {{- with .storageClass }}
  storageClass: {{ . }}
  {{- end }}
{{- end }}
resources:
  {{- toYaml $cnpg.resources | nindent 2 }}
{{- with $cnpg.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
# One instance per node (required), and the instances spread over zones (required too: two instances in one
# zone could be the primary and the one replica that confirmed the last commits, and a zone lost would take
# both): a node or a zone lost takes one instance with it, and the quorum of the others carries on. An
# instance whose zone has no room waits for it rather than double up.
affinity:
  enablePodAntiAffinity: true
  podAntiAffinityType: required
  topologyKey: kubernetes.io/hostname
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: DoNotSchedule
    labelSelector:
      matchLabels:
        cnpg.io/cluster: {{ .cluster }}
        cnpg.io/podRole: instance
{{- if $r.Values.backup.serviceAccount.annotations }}
serviceAccountTemplate:
  metadata:
    annotations:
      {{- toYaml $r.Values.backup.serviceAccount.annotations | nindent 6 }}
{{- end }}
{{- end }}
