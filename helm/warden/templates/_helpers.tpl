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

{{/* The TLS Secret mounted at /etc/warden/tls. */}}
{{- define "warden.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "warden.fullname" .)) -}}
{{- end -}}

{{/* The DNS names of both Services, for the certificate. */}}
{{- define "warden.serviceDnsNames" -}}
{{- $namespace := .Release.Namespace -}}
{{- range $service := list (printf "%s-control" (include "warden.fullname" .)) (printf "%s-agent-api" (include "warden.fullname" .)) }}
- {{ $service }}
- {{ $service }}.{{ $namespace }}.svc
- {{ $service }}.{{ $namespace }}.svc.cluster.local
{{- end }}
{{- range .Values.tls.certManager.extraDnsNames }}
- {{ . }}
{{- end }}
{{- end -}}

{{/* The database URL must come from somewhere; say where it is missing. */}}
{{- define "warden.checkValues" -}}
{{- if not .Values.secret.existingSecret -}}
{{- $_ := required "set secret.databaseUrl (postgresql://USER:PASSWORD@HOST:5432/DB) or name a Secret with a database-url key in secret.existingSecret" .Values.secret.databaseUrl -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.certManager.issuerRef.name) -}}
{{- fail "tls.certManager.enabled needs tls.certManager.issuerRef.name (an Issuer or ClusterIssuer of cert-manager)" -}}
{{- end -}}
{{- if and .Values.tls.certManager.enabled (not .Values.tls.enabled) -}}
{{- fail "tls.certManager.enabled issues a certificate the control plane would not serve: set tls.enabled=true as well" -}}
{{- end -}}
{{- if and .Values.tls.enabled .Values.agent.enabled (not .Values.tls.agentCa.configMapName) -}}
{{- fail "tls.enabled with agent.enabled: set tls.agentCa.configMapName, a ConfigMap with the CA (PEM) that signed the control plane's certificate, which the agents trust" -}}
{{- end -}}
{{- end -}}

{{/* The secret values, hashed: a change rolls the pods (checksum/secret). */}}
{{- define "warden.secretChecksum" -}}
{{- if not .Values.secret.existingSecret -}}
checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end -}}
{{- end -}}
