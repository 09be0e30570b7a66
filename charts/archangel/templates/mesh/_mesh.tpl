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
