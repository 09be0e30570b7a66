{{/*
What Prometheus scrapes, per component: the Service port it names and the container port behind it. One list
for the ServiceMonitors and for the mesh's mTLS exceptions (a Prometheus without a sidecar scrapes in plain
text), so every scraped port is PERMISSIVE by construction. archangel-monitoring's standalone Prometheus
scrapes the same Services, through their archangel.io/metrics label. A JSON list of
{component, port, containerPort[, qdrant]}.
*/}}
{{- define "archangel.metrics.targets" -}}
{{- $targets := list
      (dict "component" "core" "port" "metrics" "containerPort" (int .Values.core.containerPorts.metrics))
      (dict "component" "agents" "port" "metrics" "containerPort" (int .Values.agents.containerPorts.metrics)) -}}
{{- if and (eq .Values.database.mode "builtin") .Values.database.postgresql.metrics.enabled -}}
{{- $targets = append $targets (dict "component" "postgresql" "port" "metrics" "containerPort" (int .Values.database.postgresql.metrics.port)) -}}
{{- end -}}
{{- if not .Values.vectorStore.external.enabled -}}
{{- /* Qdrant serves /metrics on its REST port (the StatefulSet's container port "http"). */ -}}
{{- $targets = append $targets (dict "component" "qdrant" "port" "http" "containerPort" 6333 "qdrant" true) -}}
{{- end -}}
{{- toJson $targets -}}
{{- end -}}
