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
