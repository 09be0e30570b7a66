{{/* A peer selecting this release's pods of one component: (dict "root" $ "component" "prometheus") */}}
{{- define "monitoring.netpol.podPeer" -}}
podSelector:
  matchLabels:
    {{- include "monitoring.selectorLabels" . | nindent 4 }}
{{- end -}}

{{/* A peer in another namespace: (dict "namespace" "x" "podLabels" (dict ...)) */}}
{{- define "monitoring.netpol.namespacedPeer" -}}
namespaceSelector:
  matchLabels:
    kubernetes.io/metadata.name: {{ .namespace }}
podSelector:
  matchLabels:
    {{- toYaml .podLabels | nindent 4 }}
{{- end -}}

{{/* The Prometheus that scrapes this release: ours in standalone mode, the operator's otherwise. */}}
{{- define "monitoring.netpol.prometheusPeer" -}}
{{- if include "monitoring.prometheus.enabled" . -}}
{{- include "monitoring.netpol.podPeer" (dict "root" . "component" "prometheus") -}}
{{- else -}}
{{- include "monitoring.netpol.namespacedPeer" .Values.networkPolicy.prometheus -}}
{{- end -}}
{{- end -}}

{{/* The port of a URL: explicit, else 443 for https and 80 for http. */}}
{{- define "monitoring.urlPort" -}}
{{- $url := urlParse . -}}
{{- $parts := splitList ":" $url.host -}}
{{- if gt (len $parts) 1 -}}
{{- last $parts -}}
{{- else -}}
{{- ternary "443" "80" (eq $url.scheme "https") -}}
{{- end -}}
{{- end -}}

{{/* Whether a URL names an in-cluster Service (<name>.<namespace>.svc[.cluster.local]). */}}
{{- define "monitoring.isServiceURL" -}}
{{- $host := first (splitList ":" (urlParse .).host) -}}
{{- if or (hasSuffix ".svc" $host) (hasSuffix ".svc.cluster.local" $host) -}}true{{- end -}}
{{- end -}}

{{/*
An ipBlock peer. A whole-address-space block (0.0.0.0/0, ::/0) excepts the cluster's own pod and Service ranges
(networkPolicy.clusterCIDRs) of its family, so "anywhere" never also admits the cluster's pods on CNIs that
match ipBlocks against pod addresses (Calico, Cilium). Kept in step with charts/archangel's archangel.netpol.ipBlock.
(dict "root" $ "cidr" "0.0.0.0/0")
*/}}
{{- define "monitoring.netpol.ipBlock" -}}
{{- $except := list -}}
{{- if or (eq .cidr "0.0.0.0/0") (eq .cidr "::/0") -}}
{{- $v6 := eq .cidr "::/0" -}}
{{- range .root.Values.networkPolicy.clusterCIDRs -}}
{{- if eq (contains ":" .) $v6 }}{{- $except = append $except . }}{{- end -}}
{{- end -}}
{{- end -}}
ipBlock:
  cidr: {{ .cidr }}
  {{- with uniq $except }}
  except:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The helm test pod (templates/tests), admitted by the servers it probes. */}}
{{- define "monitoring.netpol.helmTestPeer" -}}
podSelector:
  matchLabels:
    {{- include "monitoring.releaseSelector" . | nindent 4 }}
    archangel.io/helm-test: "true"
{{- end -}}

{{/*
What the helm test probes: the servers this release runs, as a JSON list of {component, url, port} (port: the
container port, for the NetworkPolicies). Empty when the release runs none (operator mode without a Pushgateway).
*/}}
{{- define "monitoring.helmTest.targets" -}}
{{- $targets := list -}}
{{- if .Values.pushgateway.enabled -}}
{{- $targets = append $targets (dict "component" "pushgateway" "url" (printf "%s/-/ready" (include "monitoring.pushgateway.url" .)) "port" 9091) -}}
{{- end -}}
{{- if include "monitoring.prometheus.enabled" . -}}
{{- $targets = append $targets (dict "component" "prometheus" "url" (printf "%s/-/ready" (include "monitoring.prometheus.url" .)) "port" 9090) -}}
{{- end -}}
{{- if include "monitoring.alertmanager.enabled" . -}}
{{- $targets = append $targets (dict "component" "alertmanager" "url" (printf "%s/-/ready" (include "monitoring.alertmanager.url" .)) "port" 9093) -}}
{{- end -}}
{{- toJson $targets -}}
{{- end -}}
