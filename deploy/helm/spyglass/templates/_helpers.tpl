{{/*
Chart name, truncated to the 63 characters Kubernetes names allow.
*/}}
{{- define "spyglass.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name, with the chart name unless it already holds it.
*/}}
{{- define "spyglass.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "spyglass.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "spyglass.labels" -}}
helm.sh/chart: {{ include "spyglass.chart" . }}
{{ include "spyglass.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "spyglass.selectorLabels" -}}
app.kubernetes.io/name: {{ include "spyglass.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one role's objects: include "spyglass.roleLabels" (dict "root" $ "role" "ingest")
*/}}
{{- define "spyglass.roleLabels" -}}
{{ include "spyglass.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "spyglass.roleSelectorLabels" -}}
{{ include "spyglass.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end }}

{{- define "spyglass.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "spyglass.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "spyglass.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{- define "spyglass.secretName" -}}
{{- default (printf "%s-clickhouse" (include "spyglass.fullname" .)) .Values.clickhouse.existingSecret }}
{{- end }}

{{/*
The pod template of one role: include "spyglass.podTemplate" (dict "root" $ "role" "ingest" "config" .Values.ingest)
*/}}
{{- define "spyglass.podTemplate" -}}
{{- $root := .root -}}
{{- $config := .config -}}
metadata:
  labels:
    {{- include "spyglass.roleLabels" . | nindent 4 }}
    {{- with $config.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    checksum/secret: {{ include (print $root.Template.BasePath "/secret.yaml") $root | sha256sum }}
    {{- with $config.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with $root.Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  serviceAccountName: {{ include "spyglass.serviceAccountName" $root }}
  automountServiceAccountToken: {{ $root.Values.serviceAccount.automount }}
  securityContext:
    {{- toYaml $root.Values.podSecurityContext | nindent 4 }}
  containers:
    - name: spyglass
      image: {{ include "spyglass.image" $root | quote }}
      imagePullPolicy: {{ $root.Values.image.pullPolicy }}
      args: ["serve"]
      securityContext:
        {{- toYaml $root.Values.securityContext | nindent 8 }}
      envFrom:
        - configMapRef:
            name: {{ include "spyglass.fullname" $root }}
        {{- with $root.Values.extraEnvFrom }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      env:
        - name: SPYGLASS_ROLE
          value: {{ .role | quote }}
        {{- if $root.Values.queue.existingSecret }}
        - name: SPYGLASS_QUEUE
          valueFrom:
            secretKeyRef:
              name: {{ $root.Values.queue.existingSecret }}
              key: {{ $root.Values.queue.existingSecretKey }}
        {{- end }}
        - name: SPYGLASS_CLICKHOUSE_PASSWORD
          valueFrom:
            secretKeyRef:
              name: {{ include "spyglass.secretName" $root }}
              key: {{ $root.Values.clickhouse.existingSecretKey }}
        {{- with $root.Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: 8080
          protocol: TCP
        {{- if eq .role "ingest" }}
        - name: otlp-grpc
          containerPort: 4317
          protocol: TCP
        - name: otlp-http
          containerPort: 4318
          protocol: TCP
        {{- end }}
      livenessProbe:
        httpGet:
          path: {{ $root.Values.probes.liveness.path }}
          port: http
        initialDelaySeconds: {{ $root.Values.probes.liveness.initialDelaySeconds }}
        periodSeconds: {{ $root.Values.probes.liveness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.liveness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.liveness.failureThreshold }}
      readinessProbe:
        httpGet:
          path: {{ $root.Values.probes.readiness.path }}
          port: http
        initialDelaySeconds: {{ $root.Values.probes.readiness.initialDelaySeconds }}
        periodSeconds: {{ $root.Values.probes.readiness.periodSeconds }}
        timeoutSeconds: {{ $root.Values.probes.readiness.timeoutSeconds }}
        failureThreshold: {{ $root.Values.probes.readiness.failureThreshold }}
      resources:
        {{- toYaml $config.resources | nindent 8 }}
      volumeMounts:
        - name: data
          mountPath: /var/lib/spyglass
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: data
      emptyDir: {}
    - name: tmp
      emptyDir: {}
  {{- with $config.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $config.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $config.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
