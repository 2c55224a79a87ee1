{{/* Labels of every object; the component label is added where there is one. */}}
{{- define "beacon.labels" -}}
app.kubernetes.io/name: beacon
{{- with . }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{- define "beacon.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* The username the API server gives a Beacon ServiceAccount's requests, as the admission policies see it. */}}
{{- define "beacon.serviceAccountUser" -}}
system:serviceaccount:{{ .root.Release.Namespace }}:{{ .name }}
{{- end }}

{{/* A component's log level: its own value, else the chart-wide one. Call with (dict "root" $ "c" .Values.X). */}}
{{- define "beacon.logLevel" -}}
{{ .c.logLevel | default .root.Values.logLevel }}
{{- end }}

{{/* The Pod-level fields every component's values may set (priority, runtime class, pull secrets, placement). */}}
{{- define "beacon.podPlacement" -}}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- with .c.runtimeClassName }}
runtimeClassName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* A component's Pod labels: the user's podLabels, and Beacon's own, which win (the selectors match them). */}}
{{- define "beacon.podLabels" -}}
{{ toYaml (merge (include "beacon.labels" .component | fromYaml) .c.podLabels) }}
{{- end }}
