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
