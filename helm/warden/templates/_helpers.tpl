{{/* Name of every object: the release name, unless fullnameOverride is set. */}}
{{- define "warden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{ .Values.fullnameOverride }}
{{- else -}}
{{ .Release.Name }}
{{- end -}}
{{- end -}}

{{/* Labels of every object. */}}
{{- define "warden.labels" -}}
app.kubernetes.io/name: warden
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: warden-{{ .Chart.Version }}
{{- end -}}

{{/* Selector labels (a subset of the labels that never changes). */}}
{{- define "warden.selectorLabels" -}}
app.kubernetes.io/name: warden
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The Secret with "database-url" and "admin-key". */}}
{{- define "warden.secretName" -}}
{{- if .Values.secret.existingSecret -}}
{{ .Values.secret.existingSecret }}
{{- else -}}
{{ include "warden.fullname" . }}
{{- end -}}
{{- end -}}
