{{/* Standard names and labels. */}}
{{- define "ainp.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ainp.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ainp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ainp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ainp.labels" -}}
{{ include "ainp.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
ainp.io/environment: {{ .Values.environment }}
{{- end -}}

{{/* The image reference: by digest when given, else by tag; "latest" and empty refs fail. */}}
{{- define "ainp.image" -}}
{{- $img := .Values.image -}}
{{- if $img.digest -}}
{{- if not (hasPrefix "sha256:" $img.digest) -}}{{- fail "image.digest must look like sha256:<hex>" -}}{{- end -}}
{{- printf "%s@%s" $img.repository $img.digest -}}
{{- else -}}
{{- $tag := required "image.tag or image.digest is required" $img.tag -}}
{{- if eq $tag "latest" -}}{{- fail "image.tag must not be latest: pin a version or a digest" -}}{{- end -}}
{{- printf "%s:%s" $img.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Pod-level and container-level security: non-root, read-only root filesystem, no privileges. */}}
{{- define "ainp.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ainp.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Environment shared by the API, the migration Job and the CronJobs. */}}
{{- define "ainp.env" -}}
- name: NODE_ENV
  value: production
- name: APP_VERSION
  value: {{ .Chart.AppVersion | quote }}
- name: SHUTDOWN_TIMEOUT_MS
  value: {{ mul .Values.shutdown.drainTimeoutSeconds 1000 | quote }}
- name: TRUST_PROXY
  value: {{ .Values.trustProxy | quote }}
- name: METRICS_PORT
  value: {{ .Values.metrics.port | quote }}
{{- range $k, $v := .Values.config }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- range $k := list "DATABASE_URL" "REDIS_URL" "NATS_URL" "ADMIN_TOKEN" }}
- name: {{ $k }}
  valueFrom:
    secretKeyRef:
      name: {{ required "existingSecret (a Secret with DATABASE_URL, REDIS_URL, NATS_URL, ADMIN_TOKEN) is required" $.Values.existingSecret }}
      key: {{ $k }}
{{- end }}
{{- end -}}

{{/*
Where every pod of the chart may run (API, migration Job, CronJobs): nodeSelector, tolerations and
affinity from values, each left out when empty. Indent with nindent at the pod spec's level.
*/}}
{{- define "ainp.scheduling" -}}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Writable scratch space for a read-only root filesystem. */}}
{{- define "ainp.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end -}}
