{{- define "griddock.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "griddock.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "griddock.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* A volume for persistence.<name>: pvc, existingClaim or hostPath. */}}
{{- define "griddock.volume" -}}
{{- $p := index .root.Values.persistence .name -}}
- name: {{ .name }}
{{- if eq $p.type "hostPath" }}
  hostPath:
    path: {{ required (printf "persistence.%s.hostPath is required for type hostPath" .name) $p.hostPath }}
    type: DirectoryOrCreate
{{- else if eq $p.type "existingClaim" }}
  persistentVolumeClaim:
    claimName: {{ required (printf "persistence.%s.existingClaim is required" .name) $p.existingClaim }}
{{- else }}
  persistentVolumeClaim:
    claimName: {{ include "griddock.fullname" .root }}-{{ .name }}
{{- end }}
{{- end -}}
