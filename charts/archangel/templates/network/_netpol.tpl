{{/* Egress from a workload to the data tier: the in-release pods, or the external endpoints' ports. */}}
{{- define "archangel.netpol.dataEgress" -}}
{{- $mode := .Values.database.mode }}
{{- if eq $mode "external" }}
# The external database's address is not known to the chart: any destination, on its port only.
- ports:
    - port: {{ .Values.database.external.port }}
      protocol: TCP
{{- else if eq $mode "cloudnativepg" }}
# The CloudNativePG instances (restores and dumps go to them directly) and the PgBouncer pods.
- to:
    - podSelector:
        matchLabels:
          cnpg.io/cluster: {{ include "archangel.database.clusterName" . }}
          cnpg.io/podRole: instance
    {{- if .Values.database.cloudnativepg.pooler.enabled }}
    - podSelector:
        matchLabels:
          cnpg.io/poolerName: {{ include "archangel.database.poolerName" . }}
    {{- end }}
  ports:
    - port: 5432
      protocol: TCP
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "archangel.selectorLabels" (dict "root" . "component" "postgresql") | nindent 10 }}
  ports:
    - port: 5432
      protocol: TCP
{{- end }}
{{- if .Values.vectorStore.external.enabled }}
- ports:
    - port: 443
      protocol: TCP
    - port: 6333
      protocol: TCP
{{- else }}
- to:
    - podSelector:
        matchLabels:
          {{- include "archangel.selectorLabels" (dict "root" . "component" "qdrant") | nindent 10 }}
  ports:
    - port: 6333
      protocol: TCP
    - port: 6334
      protocol: TCP
{{- end }}
{{- end -}}


{{/* Job pods (backups, restores, verifications) that read the data tier carry archangel.io/data-client. */}}
{{- define "archangel.netpol.dataClients" -}}
{{- if or .Values.backup.enabled .Values.restore.enabled -}}
- podSelector:
    matchLabels:
      {{- include "archangel.releaseSelector" . | nindent 6 }}
      archangel.io/data-client: "true"
{{- end -}}
{{- end -}}


{{/*
An ipBlock peer. A whole-address-space block (0.0.0.0/0, ::/0) excepts the cluster's own pod and Service ranges
(networkPolicy.clusterCIDRs) of its family: CNIs such as Calico and Cilium match ipBlocks against pod addresses
too, so without them "anywhere" would also admit every pod of the cluster. Other blocks are taken as given
(an except must lie inside its cidr, which the templates cannot work out for arbitrary ranges).
(dict "root" $ "cidr" "0.0.0.0/0" ["except" (list ...)])
*/}}
{{- define "archangel.netpol.ipBlock" -}}
{{- $except := list -}}
{{- range .except }}{{- $except = append $except . }}{{- end -}}
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

{{/* Whether any rendered ipBlock spans the whole address space while networkPolicy.clusterCIDRs is empty. */}}
{{- define "archangel.netpol.unguardedWideBlock" -}}
{{- $np := .Values.networkPolicy -}}
{{- if and $np.enabled (not $np.clusterCIDRs) -}}
{{- $cidrs := $np.kubeAPIServer.cidrs -}}
{{- if .Values.loadBalancer.enabled -}}
{{- $cidrs = concat $cidrs (default (list "0.0.0.0/0") .Values.loadBalancer.loadBalancerSourceRanges) -}}
{{- end -}}
{{- if or .Values.backup.enabled .Values.restore.enabled -}}
{{- $cidrs = concat $cidrs .Values.backup.s3.egressCIDRs -}}
{{- end -}}
{{- if or (has "0.0.0.0/0" $cidrs) (has "::/0" $cidrs) -}}true{{- end -}}
{{- end -}}
{{- end -}}

{{/* Helm test pods (templates/tests) carry archangel.io/helm-test; the workloads they probe admit them. */}}
{{- define "archangel.netpol.helmTestPeer" -}}
- podSelector:
    matchLabels:
      {{- include "archangel.releaseSelector" . | nindent 6 }}
      archangel.io/helm-test: "true"
{{- end -}}

{{/*
The Gateway API gateways core's HTTPRoute attaches to: their namespaces (a parentRef without one means the
route's own), and the proxy pods there when gateway.networkPolicy.podLabels names them. Rendered only when the
HTTPRoute is.
*/}}
{{- define "archangel.netpol.gatewayPeers" -}}
{{- $gw := .Values.gateway -}}
{{- if and $gw.enabled (.Capabilities.APIVersions.Has "gateway.networking.k8s.io/v1/HTTPRoute") -}}
{{- $namespaces := list -}}
{{- range $gw.parentRefs }}{{- $namespaces = append $namespaces (default $.Release.Namespace .namespace) }}{{- end -}}
{{- range $namespaces | uniq }}
- namespaceSelector:
    matchLabels:
      kubernetes.io/metadata.name: {{ . }}
  {{- with $gw.networkPolicy.podLabels }}
  podSelector:
    matchLabels:
      {{- toYaml . | nindent 6 }}
  {{- end }}
{{- end }}
{{- end -}}
{{- end -}}


{{/* DNS: the cluster's resolver pods, and node-local DNS when the cluster runs it. */}}
{{- define "archangel.netpol.dnsEgress" -}}
{{- $np := .Values.networkPolicy -}}
- to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $np.dns.namespace }}
      podSelector:
        matchLabels:
          {{- toYaml $np.dns.podLabels | nindent 10 }}
    {{- if $np.dns.nodeLocalDNS.enabled }}
    - ipBlock:
        cidr: {{ $np.dns.nodeLocalDNS.ip }}/32
    {{- end }}
  ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- end -}}
