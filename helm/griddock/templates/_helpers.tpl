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

{{/* A volume for persistence.<name>: pvc, existingClaim, hostPath or emptyDir. */}}
{{- define "griddock.volume" -}}
{{- $p := index .root.Values.persistence .name -}}
- name: {{ .name }}
{{- if eq $p.type "emptyDir" }}
  emptyDir: {}
{{- else if eq $p.type "hostPath" }}
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

{{/* "true" when more than one pod serves the data (DaemonSet, or replicaCount > 1). */}}
{{- define "griddock.multi" -}}
{{- if or (eq .Values.workload "daemonset") (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* "true" when pods use the node's network (the DaemonSet always does). */}}
{{- define "griddock.hostNetwork" -}}
{{- if or (eq .Values.workload "daemonset") .Values.networking.hostNetwork -}}true{{- end -}}
{{- end -}}

{{/* What each pod announces in PASV/EPSV: publicHost | hostIP | nodeName | podIP. */}}
{{- define "griddock.announce" -}}
{{- if .Values.announce -}}
{{- .Values.announce -}}
{{- else if include "griddock.hostNetwork" . -}}
hostIP
{{- else -}}
publicHost
{{- end -}}
{{- end -}}

{{/* Refuses value combinations that cannot work, with the reason. */}}
{{- define "griddock.validate" -}}
{{- if not (has .Values.workload (list "deployment" "daemonset")) -}}
{{- fail "workload must be deployment or daemonset" -}}
{{- end -}}
{{- $announce := include "griddock.announce" . -}}
{{- if not (has $announce (list "publicHost" "hostIP" "nodeName" "podIP")) -}}
{{- fail "announce must be publicHost, hostIP, nodeName or podIP" -}}
{{- end -}}
{{- if include "griddock.multi" . -}}
{{- if eq $announce "publicHost" -}}
{{- fail "several pods cannot share one passive address: use networking.hostNetwork=true (announce hostIP), workload=daemonset, or announce=podIP on a routable pod network" -}}
{{- end -}}
{{- if eq .Values.persistence.data.type "pvc" -}}
{{- fail "several pods need one shared file system: persistence.data.type=existingClaim (ReadWriteMany) or hostPath (mounted on every node)" -}}
{{- end -}}
{{- if eq .Values.persistence.state.type "pvc" -}}
{{- fail "state is per pod: persistence.state.type=emptyDir or hostPath with several pods" -}}
{{- end -}}
{{- if and (eq .Values.tls.source "acme") (not .Values.tls.existingSecret) (not .Values.certManager.enabled) -}}
{{- fail "griddock's own ACME answers challenges from one pod: with several pods use certManager.enabled=true or tls.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The TLS Secret mounted into every pod: tls.existingSecret or cert-manager's. */}}
{{- define "griddock.tlsSecret" -}}
{{- if .Values.tls.existingSecret -}}
{{- .Values.tls.existingSecret -}}
{{- else if .Values.certManager.enabled -}}
{{- default (printf "%s-tls" (include "griddock.fullname" .)) .Values.certManager.secretName -}}
{{- end -}}
{{- end -}}
