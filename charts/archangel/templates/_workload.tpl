{{/*
The stateless workloads (core and agents) share one shape: Deployment, Service, ServiceAccount, ConfigMap,
PodDisruptionBudget and, as their values choose, an HPA, a KEDA ScaledObject or a VPA. Each template in
templates/<component>/ calls one of these with (dict "root" $ "component" "<name>").
*/}}

{{- define "archangel.workload.values" -}}
{{- toYaml (index .root.Values .component) -}}
{{- end -}}

{{/* The replica count the workload can go down to: the autoscaler's minimum, else its fixed replicas. */}}
{{- define "archangel.workload.minReplicas" -}}
{{- $v := index .root.Values .component -}}
{{- if $v.autoscaling.enabled -}}
{{- $v.autoscaling.minReplicas -}}
{{- else if $v.keda.enabled -}}
{{- $v.keda.minReplicaCount -}}
{{- else -}}
{{- $v.replicas -}}
{{- end -}}
{{- end -}}

{{/*
"true" when an autoscaler owns the replica count, so the Deployment must not set it. In maintenance
(maintenance.enabled) no autoscaler is rendered and the Deployment holds zero replicas: an HPA would bring its
minimum back, and KEDA scales from zero on its own.
*/}}
{{- define "archangel.workload.autoscaled" -}}
{{- $v := index .root.Values .component -}}
{{- if and (or $v.autoscaling.enabled $v.keda.enabled) (not .root.Values.maintenance.enabled) -}}true{{- end -}}
{{- end -}}

{{/*
Combinations that cannot work are refused before anything is applied, each naming the values to change.
*/}}
{{- define "archangel.workload.checks" -}}
{{- $c := .component -}}
{{- $v := index .root.Values $c -}}
{{- if and $v.autoscaling.enabled $v.keda.enabled -}}
{{- fail (printf "%s: autoscaling.enabled and keda.enabled are both true; KEDA creates its own HPA, so enable only one" $c) -}}
{{- end -}}
{{- if and $v.keda.enabled (not (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1/ScaledObject")) -}}
{{- fail (printf "%s.keda.enabled is true but the cluster does not serve keda.sh/v1alpha1/ScaledObject; install KEDA or set %s.keda.enabled=false" $c $c) -}}
{{- end -}}
{{- if $v.autoscaling.enabled -}}
{{- if gt (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas) -}}
{{- fail (printf "%s.autoscaling: minReplicas (%d) is greater than maxReplicas (%d)" $c (int $v.autoscaling.minReplicas) (int $v.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if not (or $v.autoscaling.cpu.enabled $v.autoscaling.memory.enabled $v.autoscaling.podsMetrics) -}}
{{- fail (printf "%s.autoscaling is enabled with no metric; enable cpu, memory or list podsMetrics" $c) -}}
{{- end -}}
{{- if and (not (or $v.autoscaling.cpu.enabled $v.autoscaling.memory.enabled)) (not (include "archangel.customMetricsServed" .root)) -}}
{{- fail (printf "%s.autoscaling scales on podsMetrics alone, and the cluster does not serve custom.metrics.k8s.io (install prometheus-adapter), so the HPA would have no metric; enable %s.autoscaling.cpu or memory too" $c $c) -}}
{{- end -}}
{{- end -}}
{{- if $v.keda.enabled -}}
{{- if gt (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount) -}}
{{- fail (printf "%s.keda: minReplicaCount (%d) is greater than maxReplicaCount (%d)" $c (int $v.keda.minReplicaCount) (int $v.keda.maxReplicaCount)) -}}
{{- end -}}
{{- end -}}
{{- /* VPA and an HPA (or KEDA) must never both act on the same resource of one workload. */ -}}
{{- if and $v.verticalPodAutoscaler.enabled (ne $v.verticalPodAutoscaler.updateMode "Off") -}}
{{- range $resource := $v.verticalPodAutoscaler.controlledResources -}}
{{- $scaledByHPA := and $v.autoscaling.enabled (index $v.autoscaling $resource).enabled -}}
{{- $scaledByKEDA := and $v.keda.enabled (index $v.keda $resource).enabled -}}
{{- if or $scaledByHPA $scaledByKEDA -}}
{{- fail (printf "%s: verticalPodAutoscaler.updateMode %s resizes %s, which %s also scales on; use updateMode Off (recommendations only) or remove %s from %s.verticalPodAutoscaler.controlledResources" $c $v.verticalPodAutoscaler.updateMode $resource (ternary (printf "%s.autoscaling" $c) (printf "%s.keda" $c) $scaledByHPA) $resource $c) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* Zero unavailable and zero surge would leave a rollout nothing to do. */ -}}
{{- if and (eq (toString $v.rollingUpdate.maxUnavailable) "0") (or (eq (toString $v.rollingUpdate.maxSurge) "0") (eq (toString $v.rollingUpdate.maxSurge) "0%")) -}}
{{- fail (printf "%s.rollingUpdate: maxSurge and maxUnavailable cannot both be 0" $c) -}}
{{- end -}}
{{- if and $v.preStopSleepSeconds (le (int $v.terminationGracePeriodSeconds) (int $v.preStopSleepSeconds)) -}}
{{- fail (printf "%s.terminationGracePeriodSeconds (%d) must be longer than %s.preStopSleepSeconds (%d), or the drain sleep uses up the whole grace period" $c (int $v.terminationGracePeriodSeconds) $c (int $v.preStopSleepSeconds)) -}}
{{- end -}}
{{- if and $v.pdb.enabled -}}
{{- include "archangel.pdb.check" (dict "field" (printf "%s.pdb" $c) "pdb" $v.pdb "minReplicas" (int (include "archangel.workload.minReplicas" .))) -}}
{{- end -}}
{{- if and (hasKey (default (dict) $v.affinity) "podAntiAffinity") (ne $v.podAntiAffinity "none") -}}
{{- fail (printf "%s.affinity.podAntiAffinity is set while %s.podAntiAffinity is %q; set %s.podAntiAffinity to none to supply your own" $c $c $v.podAntiAffinity $c) -}}
{{- end -}}
{{- end -}}

{{/*
A PodDisruptionBudget must leave at least one voluntary eviction possible at the workload's minimum scale,
or node drains and cluster upgrades stall. (dict "field" "core.pdb" "pdb" $pdb "minReplicas" 3)
*/}}
{{- define "archangel.pdb.check" -}}
{{- $pdb := .pdb -}}
{{- $n := int .minReplicas -}}
{{- $hasMax := not (kindIs "invalid" $pdb.maxUnavailable) -}}
{{- $hasMin := not (kindIs "invalid" $pdb.minAvailable) -}}
{{- if and $hasMax $hasMin -}}
{{- fail (printf "%s: set maxUnavailable or minAvailable, not both (set the other to null)" .field) -}}
{{- end -}}
{{- if not (or $hasMax $hasMin) -}}
{{- fail (printf "%s: set maxUnavailable (recommended) or minAvailable" .field) -}}
{{- end -}}
{{- if $hasMax -}}
{{- if or (eq (toString $pdb.maxUnavailable) "0") (eq (toString $pdb.maxUnavailable) "0%") -}}
{{- fail (printf "%s.maxUnavailable is %v: no pod could ever be evicted, so node drains would block" .field $pdb.maxUnavailable) -}}
{{- end -}}
{{- else -}}
{{- $required := 0 -}}
{{- if kindIs "string" $pdb.minAvailable -}}
{{- $percent := int (trimSuffix "%" $pdb.minAvailable) -}}
{{- $required = div (add (mul $percent $n) 99) 100 -}}
{{- else -}}
{{- $required = int $pdb.minAvailable -}}
{{- end -}}
{{- if ge $required $n -}}
{{- fail (printf "%s.minAvailable %v keeps all %d pods at minimum scale available, so no pod could be evicted; lower it or use maxUnavailable" .field $pdb.minAvailable $n) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "archangel.workload.serviceAccountName" -}}
{{- $v := index .root.Values .component -}}
{{- if $v.serviceAccount.create -}}
{{- include "archangel.componentName" . -}}
{{- else -}}
{{- default "default" $v.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "archangel.workload.configmap" -}}
{{- $v := index .root.Values .component -}}
apiVersion: v1
kind: ConfigMap
metadata:
  {{- include "archangel.metadata" . | nindent 2 }}
data:
  {{- range $key, $value := $v.config }}
  {{ $key }}: {{ toString $value | quote }}
  {{- end }}
{{- end -}}

{{- define "archangel.workload.serviceaccount" -}}
{{- $v := index .root.Values .component -}}
{{- if $v.serviceAccount.create }}
apiVersion: v1
kind: ServiceAccount
metadata:
  {{- include "archangel.metadata" (merge (dict "annotations" $v.serviceAccount.annotations) .) | nindent 2 }}
automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
{{- end }}
{{- end -}}

{{- define "archangel.workload.service" -}}
{{- $v := index .root.Values .component -}}
apiVersion: v1
kind: Service
metadata:
  {{- include "archangel.metadata" (merge (dict "annotations" $v.service.annotations "labels" (dict "archangel.io/metrics" "true")) .) | nindent 2 }}
spec:
  type: ClusterIP
  selector:
    {{- include "archangel.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ $v.service.ports.http }}
      targetPort: http
      protocol: TCP
      appProtocol: http
    - name: metrics
      port: {{ $v.service.ports.metrics }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end -}}

{{/* Scheduling: anti-affinity preset, user affinity, and spreading across zones and nodes. */}}
{{- define "archangel.workload.scheduling" -}}
{{- $v := index .root.Values .component -}}
{{- $selector := include "archangel.selectorLabels" . | fromYaml -}}
{{- $affinity := deepCopy (default (dict) $v.affinity) -}}
{{- /*
matchLabelKeys pod-template-hash: each rollout's pods keep apart from each other, not from the ReplicaSet they
replace. Without it, hard anti-affinity with as many replicas as nodes leaves a surge pod nowhere to go and a
drained pod's replacement cannot land beside the pods of an older template: the rollout stalls at its deadline.
(Beta and on by default from Kubernetes 1.31, GA in 1.33; the chart needs 1.32.)
*/ -}}
{{- $term := dict "labelSelector" (dict "matchLabels" $selector) "topologyKey" "kubernetes.io/hostname" "matchLabelKeys" (list "pod-template-hash") -}}
{{- if eq $v.podAntiAffinity "hard" -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "requiredDuringSchedulingIgnoredDuringExecution" (list $term)) -}}
{{- else if eq $v.podAntiAffinity "soft" -}}
{{- $_ := set $affinity "podAntiAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "podAffinityTerm" $term))) -}}
{{- end -}}
{{- with $affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key, $topology := dict "zone" "topology.kubernetes.io/zone" "node" "kubernetes.io/hostname" }}
  {{- $spread := index $v.topologySpread $key }}
  - topologyKey: {{ $topology }}
    maxSkew: {{ $spread.maxSkew }}
    whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- toYaml $selector | nindent 8 }}
    # Spread each rollout's new pods on their own, not counting the ReplicaSet being replaced.
    matchLabelKeys:
      - pod-template-hash
  {{- end }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{- define "archangel.workload.deployment" -}}
{{- include "archangel.workload.checks" . -}}
{{- $v := index .root.Values .component -}}
{{- $root := .root -}}
{{- $configPath := printf "%s/%s/configmap.yaml" .root.Template.BasePath .component -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  {{- include "archangel.metadata" . | nindent 2 }}
spec:
  {{- if .root.Values.maintenance.enabled }}
  replicas: 0
  {{- else if not (include "archangel.workload.autoscaled" .) }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: {{ $v.revisionHistoryLimit }}
  minReadySeconds: {{ $v.minReadySeconds }}
  progressDeadlineSeconds: {{ $v.progressDeadlineSeconds }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: {{ $v.rollingUpdate.maxUnavailable }}
      maxSurge: {{ $v.rollingUpdate.maxSurge }}
  selector:
    matchLabels:
      {{- include "archangel.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "archangel.labels" . | nindent 8 }}
        {{- include "archangel.mesh.injectLabel" .root | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include $configPath .root | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "archangel.workload.serviceAccountName" . }}
      automountServiceAccountToken: {{ $v.serviceAccount.automountToken }}
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      {{- with include "archangel.imagePullSecrets" .root }}
      {{- . | nindent 6 }}
      {{- end }}
      securityContext:
        {{- include "archangel.podSecurityContext" $v.podSecurityContext | nindent 8 }}
      {{- include "archangel.workload.scheduling" . | trim | nindent 6 }}
      {{- with $v.initContainers }}
      initContainers:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "archangel.image" (dict "image" $v.image "root" .root "field" (printf "%s.image" .component)) }}
          imagePullPolicy: {{ $v.image.pullPolicy }}
          ports:
            - name: http
              containerPort: {{ $v.containerPorts.http }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $v.containerPorts.metrics }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "archangel.componentName" . }}
            {{- with $v.extraEnvFrom }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            - name: ARCHANGEL_COMPONENT
              value: {{ .component | quote }}
            - name: ARCHANGEL_HTTP_PORT
              value: {{ $v.containerPorts.http | quote }}
            - name: ARCHANGEL_METRICS_PORT
              value: {{ $v.containerPorts.metrics | quote }}
            - name: POD_NAME
              valueFrom:
                fieldRef:
                  fieldPath: metadata.name
            - name: POD_NAMESPACE
              valueFrom:
                fieldRef:
                  fieldPath: metadata.namespace
            {{- with include (printf "archangel.%s.env" .component) . }}
            {{- . | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          startupProbe:
            {{- toYaml $v.startupProbe | nindent 12 }}
          readinessProbe:
            {{- toYaml $v.readinessProbe | nindent 12 }}
          livenessProbe:
            {{- toYaml $v.livenessProbe | nindent 12 }}
          {{- if $v.preStopSleepSeconds }}
          lifecycle:
            # Keep serving while the endpoint removal reaches every load balancer and proxy, then stop.
            preStop:
              sleep:
                seconds: {{ $v.preStopSleepSeconds }}
          {{- end }}
          securityContext:
            {{- include "archangel.containerSecurityContext" $v.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            - name: credentials
              mountPath: /etc/archangel/credentials
              readOnly: true
            {{- if include "archangel.database.caSecret" .root }}
            - name: database-ca
              mountPath: /etc/archangel/database-ca
              readOnly: true
            {{- end }}
            {{- if include "archangel.vectorStore.caSecret" .root }}
            - name: vectorstore-ca
              mountPath: /etc/archangel/vectorstore-ca
              readOnly: true
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
        {{- with $v.sidecars }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      volumes:
        - name: tmp
          emptyDir:
            sizeLimit: {{ $v.tmpSizeLimit }}
        {{- include "archangel.credentialsVolume" .root | nindent 8 }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
{{- end -}}

{{- define "archangel.workload.pdb" -}}
{{- $v := index .root.Values .component -}}
{{- if $v.pdb.enabled }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  {{- include "archangel.metadata" . | nindent 2 }}
spec:
  {{- if not (kindIs "invalid" $v.pdb.maxUnavailable) }}
  maxUnavailable: {{ $v.pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $v.pdb.minAvailable }}
  {{- end }}
  # A pod that never became ready protects nothing; let drains evict it.
  unhealthyPodEvictionPolicy: AlwaysAllow
  selector:
    matchLabels:
      {{- include "archangel.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "archangel.workload.hpa" -}}
{{- $v := index .root.Values .component -}}
{{- $hpa := $v.autoscaling -}}
{{- if and $hpa.enabled (not .root.Values.maintenance.enabled) }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  {{- include "archangel.metadata" . | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "archangel.componentName" . }}
  minReplicas: {{ $hpa.minReplicas }}
  maxReplicas: {{ $hpa.maxReplicas }}
  metrics:
    {{- range $resource := list "cpu" "memory" }}
    {{- $target := index $hpa $resource }}
    {{- if $target.enabled }}
    - type: Resource
      resource:
        name: {{ $resource }}
        target:
          type: Utilization
          averageUtilization: {{ $target.averageUtilization }}
    {{- end }}
    {{- end }}
    {{- /* Only when the custom metrics API is served: an HPA with a metric it cannot read never scales down. */}}
    {{- range (include "archangel.customMetricsServed" .root | empty | ternary list $hpa.podsMetrics) }}
    # Served through custom.metrics.k8s.io (prometheus-adapter); Pods metrics take an AverageValue.
    - type: Pods
      pods:
        metric:
          name: {{ .name }}
        target:
          type: AverageValue
          averageValue: {{ .averageValue | quote }}
    {{- end }}
  behavior:
    {{- toYaml $hpa.behavior | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "archangel.workload.scaledobject" -}}
{{- $v := index .root.Values .component -}}
{{- $keda := $v.keda -}}
{{- if and $keda.enabled (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1/ScaledObject") (not .root.Values.maintenance.enabled) }}
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata:
  {{- include "archangel.metadata" (merge (dict "annotations" (dict "argocd.argoproj.io/sync-options" "SkipDryRunOnMissingResource=true")) .) | nindent 2 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "archangel.componentName" . }}
  minReplicaCount: {{ $keda.minReplicaCount }}
  maxReplicaCount: {{ $keda.maxReplicaCount }}
  pollingInterval: {{ $keda.pollingInterval }}
  cooldownPeriod: {{ $keda.cooldownPeriod }}
  advanced:
    horizontalPodAutoscalerConfig:
      behavior:
        {{- toYaml $v.autoscaling.behavior | nindent 8 }}
  triggers:
    {{- range $resource := list "cpu" "memory" }}
    {{- $target := index $keda $resource }}
    {{- if $target.enabled }}
    - type: {{ $resource }}
      metricType: Utilization
      metadata:
        value: {{ $target.averageUtilization | quote }}
    {{- end }}
    {{- end }}
    {{- with $keda.prometheus }}
    {{- if .enabled }}
    - type: prometheus
      metadata:
        serverAddress: {{ .serverAddress | quote }}
        query: {{ tpl .query $.root | quote }}
        threshold: {{ .threshold | quote }}
        {{- with .activationThreshold }}
        activationThreshold: {{ . | quote }}
        {{- end }}
    {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "archangel.workload.vpa" -}}
{{- $v := index .root.Values .component -}}
{{- $vpa := $v.verticalPodAutoscaler -}}
{{- if and $vpa.enabled (.root.Capabilities.APIVersions.Has "autoscaling.k8s.io/v1/VerticalPodAutoscaler") }}
apiVersion: autoscaling.k8s.io/v1
kind: VerticalPodAutoscaler
metadata:
  {{- include "archangel.metadata" (merge (dict "annotations" (dict "argocd.argoproj.io/sync-options" "SkipDryRunOnMissingResource=true")) .) | nindent 2 }}
spec:
  targetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "archangel.componentName" . }}
  updatePolicy:
    updateMode: {{ $vpa.updateMode | quote }}
    {{- if ne $vpa.updateMode "Off" }}
    # Never evict below this many live pods.
    minReplicas: {{ $vpa.minReplicas }}
    {{- end }}
  resourcePolicy:
    containerPolicies:
      - containerName: {{ .component }}
        mode: Auto
        controlledResources:
          {{- toYaml $vpa.controlledResources | nindent 10 }}
        controlledValues: {{ $vpa.controlledValues }}
        minAllowed:
          {{- toYaml $vpa.minAllowed | nindent 10 }}
        maxAllowed:
          {{- toYaml $vpa.maxAllowed | nindent 10 }}
      # Sidecars keep the resources their owners gave them.
      - containerName: "*"
        mode: "Off"
{{- end }}
{{- end -}}
