{{/*
Qdrant's distributed mode: vectorStore.qdrant.replicas of 3 or more. Each node is a StatefulSet pod that
announces itself to its peers as <pod>.<headless Service> on the peer port; pod 0 starts the Raft cluster and
the others join through it (--bootstrap), the way Qdrant's own chart does. Refusals name the field.
*/}}
{{- define "archangel.qdrant.distributed" -}}
{{- $q := .Values.vectorStore.qdrant -}}
{{- if eq (int $q.replicas) 2 -}}
{{- fail "vectorStore.qdrant.replicas is 2: Raft needs a majority, which two nodes lose with either one; use 1 (a single node) or 3 and more" -}}
{{- end -}}
{{- if gt (int $q.replicas) 1 -}}
{{- if gt (int $q.cluster.replicationFactor) (int $q.replicas) -}}
{{- fail (printf "vectorStore.qdrant.cluster.replicationFactor (%v) is more than vectorStore.qdrant.replicas (%v): a shard cannot have more copies than there are nodes" $q.cluster.replicationFactor $q.replicas) -}}
{{- end -}}
{{- if gt (int $q.cluster.writeConsistencyFactor) (int $q.cluster.replicationFactor) -}}
{{- fail (printf "vectorStore.qdrant.cluster.writeConsistencyFactor (%v) is more than vectorStore.qdrant.cluster.replicationFactor (%v): no write could be acknowledged" $q.cluster.writeConsistencyFactor $q.cluster.replicationFactor) -}}
{{- end -}}
{{- if ge (int $q.cluster.maxUnavailable) (int $q.cluster.replicationFactor) -}}
{{- fail (printf "vectorStore.qdrant.cluster.maxUnavailable (%v) must be less than vectorStore.qdrant.cluster.replicationFactor (%v): a drain could take every copy of a shard" $q.cluster.maxUnavailable $q.cluster.replicationFactor) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* The peer URI of a node: <pod>.<headless>.<namespace>.svc on the peer port, https when dataTLS is on. */}}
{{- define "archangel.qdrant.peerUri" -}}
{{- $name := include "archangel.componentName" (dict "root" .root "component" "qdrant") -}}
{{- printf "%s://%s.%s-hl.%s.svc:%v" (ternary "https" "http" (not (not (include "archangel.qdrant.tls" .root)))) .pod $name .root.Release.Namespace .root.Values.vectorStore.qdrant.cluster.p2pPort -}}
{{- end -}}
