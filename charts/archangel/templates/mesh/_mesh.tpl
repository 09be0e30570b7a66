{{/* The core Service as the mesh names it. */}}
{{- define "archangel.mesh.coreHost" -}}
{{- printf "%s.%s.svc.cluster.local" (include "archangel.componentName" (dict "root" . "component" "core")) .Release.Namespace -}}
{{- end -}}

{{/*
Retry conditions that are safe for any request: the request never reached core, so retrying cannot repeat a
non-idempotent call (a POST that created something). Everything else (5xx, reset, gateway-error, ...) may
fire after core acted, and is allowed only for GET, HEAD and OPTIONS.
*/}}
{{- define "archangel.mesh.safeRetryOn" -}}
{{- toJson (list "connect-failure" "refused-stream") -}}
{{- end -}}

{{/*
"true" when plain-text traffic reaches core's pods without passing a sidecar, so its HTTP port cannot be STRICT:
the LoadBalancer Service (an AWS NLB with IP targets sends straight to the pod IPs) always, and the ingress
controller or the Gateway API gateway unless istio.peerAuthentication.proxiesInMesh says they are in the mesh
(a sidecar-injected controller, or an Istio ingress gateway, which use mutual TLS).
*/}}
{{- define "archangel.mesh.directTraffic" -}}
{{- $proxies := or .Values.ingress.enabled .Values.gateway.enabled -}}
{{- if or .Values.loadBalancer.enabled (and $proxies (not .Values.istio.peerAuthentication.proxiesInMesh)) -}}true{{- end -}}
{{- end -}}

{{/*
Sidecar injection, when the chart owns it (istio.injection.enabled): every pod of the release carries
sidecar.istio.io/inject=true, which Istio's injector honours in a namespace not labelled for injection. Every
pod, jobs included: a PostgreSQL in STRICT mutual TLS refuses a plain-text backup job. Under restricted Pod
Security the sidecar's iptables set-up must come from the Istio CNI node agent (istio-init needs NET_ADMIN);
preflight checks that it runs.
*/}}
{{- define "archangel.mesh.injectLabel" -}}
{{- if .Values.istio.injection.enabled }}
sidecar.istio.io/inject: "true"
{{- end }}
{{- end -}}

{{/*
Mutual TLS settings only take effect on pods with sidecars: refuse them when nothing puts the pods in the mesh.
*/}}
{{- define "archangel.mesh.checks" -}}
{{- $i := .Values.istio -}}
{{- $peer := and $i.peerAuthentication.enabled (.Capabilities.APIVersions.Has "security.istio.io/v1/PeerAuthentication") -}}
{{- $mutual := and $i.destinationRule.enabled (.Capabilities.APIVersions.Has "networking.istio.io/v1/DestinationRule") -}}
{{- if and (or $peer $mutual) (not $i.injection.enabled) (not $i.injection.managedByNamespace) -}}
{{- fail (printf "%s renders mutual TLS (%s), but nothing puts the release's pods in the mesh, so it would change nothing: set istio.injection.enabled (the chart labels every pod for injection; with restricted Pod Security the Istio CNI node agent must run) or istio.injection.managedByNamespace (the namespace is labelled istio-injection=enabled or istio.io/rev)" (ternary "istio.peerAuthentication.enabled" "istio.destinationRule.enabled" $peer) (ternary "PeerAuthentication" "DestinationRule ISTIO_MUTUAL" $peer)) -}}
{{- end -}}
{{- end -}}
