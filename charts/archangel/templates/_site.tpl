{{/*
Site values: what only the installing organisation knows (its hostnames, certificates, cloud identities and
address ranges). An environment's values file sets such a key to null ("set it for your site"), which deletes
the chart's default; the release then refuses to render until every one is given, naming them all in one
message, so nothing is created with an example identity or a half-configured site. The chart's own defaults
never need this: a plain `helm install` renders.

Each check returns "path: what it is" when the value is missing; archangel.site.check joins them.
*/}}
{{- define "archangel.site.missing" -}}
{{- $v := .Values -}}
{{- $missing := list -}}
{{- if $v.ingress.enabled -}}
{{- if not $v.ingress.hosts -}}
{{- $missing = append $missing "ingress.hosts: the public hostname(s) the Ingress routes (host, paths)" -}}
{{- end -}}
{{- range $i, $host := $v.ingress.hosts -}}
{{- if not $host.host -}}
{{- $missing = append $missing (printf "ingress.hosts[%d].host: the public hostname" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $v.gateway.enabled (not $v.gateway.hostnames) -}}
{{- $missing = append $missing "gateway.hostnames: the public hostname(s) the HTTPRoute answers" -}}
{{- end -}}
{{- $lb := $v.loadBalancer -}}
{{- if and $lb.enabled $lb.aws.enabled (eq $lb.aws.scheme "internet-facing") (not $lb.aws.allowPlaintext) (not $lb.aws.tls.certificateArn) -}}
{{- $missing = append $missing "loadBalancer.aws.tls.certificateArn: the ACM certificate of the internet-facing NLB (or loadBalancer.aws.scheme internal)" -}}
{{- end -}}
{{- if $v.networkPolicy.enabled -}}
{{- if not (hasKey $v.networkPolicy "clusterCIDRs") -}}
{{- $missing = append $missing "networkPolicy.clusterCIDRs: the cluster's pod and Service CIDRs (EKS: aws eks describe-cluster --query cluster.kubernetesNetworkConfig; [] if you accept the NOTES warning)" -}}
{{- end -}}
{{- if not $v.networkPolicy.kubeAPIServer.cidrs -}}
{{- $missing = append $missing "networkPolicy.kubeAPIServer.cidrs: the API server's endpoint addresses (kubectl get endpointslices -n default -l kubernetes.io/service-name=kubernetes)" -}}
{{- end -}}
{{- end -}}
{{- if or $v.backup.enabled $v.restore.enabled -}}
{{- if not $v.backup.s3.bucket -}}
{{- $missing = append $missing "backup.s3.bucket: the S3 bucket for backups" -}}
{{- end -}}
{{- if not (or $v.backup.s3.existingSecret $v.backup.serviceAccount.annotations) -}}
{{- $missing = append $missing "backup.serviceAccount.annotations: the jobs' cloud identity (EKS: eks.amazonaws.com/role-arn), or backup.s3.existingSecret with static keys" -}}
{{- end -}}
{{- if and $v.backup.enabled $v.backup.prune.requireSeparateIdentity (not $v.backup.prune.serviceAccount.annotations) -}}
{{- $missing = append $missing "backup.prune.serviceAccount.annotations: the prune job's own cloud identity (an IAM role that may list, read and delete backups; the backup jobs' may not delete)" -}}
{{- end -}}
{{- end -}}
{{- if $v.global.requireImageDigests -}}
{{- $images := dict "core.image" $v.core.image "agents.image" $v.agents.image "tools.image" $v.tools.image -}}
{{- if eq $v.database.mode "cloudnativepg" -}}
{{- $_ := set $images "database.cloudnativepg.image" $v.database.cloudnativepg.image -}}
{{- if and $v.backup.enabled $v.backup.verify.enabled $v.backup.verify.isolated -}}
{{- /* the restore test's own PostgreSQL, beside it in the verification pod */ -}}
{{- $_ := set $images "database.postgresql.image" $v.database.postgresql.image -}}
{{- end -}}
{{- else if eq $v.database.mode "builtin" -}}
{{- $_ := set $images "database.postgresql.image" $v.database.postgresql.image -}}
{{- if $v.database.postgresql.metrics.enabled -}}
{{- $_ := set $images "database.postgresql.metrics.image" $v.database.postgresql.metrics.image -}}
{{- end -}}
{{- end -}}
{{- if not $v.vectorStore.external.enabled -}}
{{- $_ := set $images "vectorStore.qdrant.image" $v.vectorStore.qdrant.image -}}
{{- end -}}
{{- range $field, $image := $images -}}
{{- if not $image.digest -}}
{{- $missing = append $missing (printf "%s.digest: the digest (sha256:...) of %s:%s as your registry serves it (global.requireImageDigests)" $field $image.repository (toString $image.tag)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $missing -}}
{{- end -}}

{{- define "archangel.site.check" -}}
{{- $missing := include "archangel.site.missing" . | fromJsonArray -}}
{{- if $missing -}}
{{- fail (printf "\nthis release needs values only your site knows; set each of these (values/examples/ has an example per environment):\n  - %s" (join "\n  - " $missing)) -}}
{{- end -}}
{{- end -}}
