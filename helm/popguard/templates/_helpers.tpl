{{/*
popguard.name is the chart name, or nameOverride, cut to 63 characters (the
limit of a DNS label and of a label value).
*/}}
{{- define "popguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
popguard.fullname names every resource: fullnameOverride, else the release
name when it already contains the chart name, else "<release>-<name>".
*/}}
{{- define "popguard.fullname" -}}
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

{{/*
popguard.chart is "<name>-<version>" for the helm.sh/chart label ("+" is not
allowed in label values).
*/}}
{{- define "popguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
popguard.selectorLabels are the labels Services, the PDB, the NetworkPolicy
and topology spread select pods by. They must never change between releases:
a Deployment's selector is immutable.
*/}}
{{- define "popguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "popguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
popguard.labels are put on every resource.
*/}}
{{- define "popguard.labels" -}}
helm.sh/chart: {{ include "popguard.chart" . }}
{{ include "popguard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: token-verifier
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
popguard.serviceAccountName is the ServiceAccount the pods run as.
*/}}
{{- define "popguard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "popguard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
popguard.image is "repository@digest" when a digest is set (immutable), else
"repository:tag" with the tag defaulting to the chart's appVersion.
*/}}
{{- define "popguard.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
popguard.podCount is the smallest number of pods the release runs: the HPA's
minimum when autoscaling, else replicaCount. Values arrive as float64 (Helm
reads them through JSON), so convert before comparing.
*/}}
{{- define "popguard.podCount" -}}
{{- if .Values.autoscaling.enabled }}
{{- int .Values.autoscaling.minReplicas }}
{{- else }}
{{- int .Values.replicaCount }}
{{- end }}
{{- end }}

{{/* Paths inside the container. */}}
{{- define "popguard.configDir" -}}/etc/popguard/config{{- end }}
{{- define "popguard.tlsDir" -}}/etc/popguard/tls{{- end }}
{{- define "popguard.nonceDir" -}}/etc/popguard/secrets/dpop-nonce{{- end }}
{{- define "popguard.redisDir" -}}/etc/popguard/secrets/redis{{- end }}

{{/*
popguard.validate fails the render on combinations that would deploy a
popguard that cannot start or cannot be probed, with a message naming the
values to change.
*/}}
{{- define "popguard.validate" -}}
{{- $mode := .Values.probes.mode }}
{{- if not .Values.metrics.enabled }}
{{- fail "metrics.enabled=false is not supported: the liveness probe (GET /healthz) and probes.mode=http are served on the HTTP port" }}
{{- end }}
{{- if and (eq $mode "grpc") .Values.tls.existingSecret }}
{{- fail "probes.mode=grpc cannot be used with tls.existingSecret: kubelet gRPC probes do not speak TLS; use probes.mode=http" }}
{{- end }}
{{- if and .Values.config.dpop.nonce.required (not .Values.secrets.dpopNonce.existingSecret) }}
{{- fail "config.dpop.nonce.required needs secrets.dpopNonce.existingSecret: every replica must derive nonces from the same secret" }}
{{- end }}
{{- if and .Values.tls.requireClientCert (not .Values.tls.existingSecret) }}
{{- fail "tls.requireClientCert needs tls.existingSecret (with ca.crt)" }}
{{- end }}
{{- if eq .Values.config.replay.backend "redis" }}
{{- $redis := .Values.config.replay.redis }}
{{- if not $redis.addresses }}
{{- fail "config.replay.backend=redis needs config.replay.redis.addresses" }}
{{- end }}
{{- if and $redis.username (not .Values.secrets.redisPassword.existingSecret) }}
{{- fail "config.replay.redis.username needs secrets.redisPassword.existingSecret: Redis ACL users log in with a password" }}
{{- end }}
{{- if and (gt (len $redis.addresses) 1) (ne (int $redis.database) 0) }}
{{- fail "config.replay.redis.database must be 0 with several addresses (Redis Cluster has only database 0)" }}
{{- end }}
{{- end }}
{{- if eq (int .Values.containerPorts.grpc) (int .Values.containerPorts.http) }}
{{- fail "containerPorts.grpc and containerPorts.http must differ" }}
{{- end }}
{{- end }}

{{/*
popguard.config renders popguard.yaml: the `config` values plus the keys the
chart owns (listen address, TLS files, secret files, metrics listener).
Rendered with toYaml, so numbers keep their integer form (1000000, not the
1e+06 that printing a float64 value directly would give) and keys are sorted.
*/}}
{{- define "popguard.config" -}}
{{- $c := deepCopy .Values.config }}
{{- $_ := set $c "listen" (printf "%s:%d" .Values.listenHost (int .Values.containerPorts.grpc)) }}
{{- if not $c.external_origin }}
{{- $_ := unset $c "external_origin" }}
{{- end }}
{{- if .Values.tls.existingSecret }}
{{- $tls := dict "cert_file" (printf "%s/tls.crt" (include "popguard.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "popguard.tlsDir" .)) }}
{{- if .Values.tls.requireClientCert }}
{{- $_ := set $tls "client_ca_file" (printf "%s/ca.crt" (include "popguard.tlsDir" .)) }}
{{- end }}
{{- $_ := set $c "tls" $tls }}
{{- end }}
{{- if .Values.secrets.dpopNonce.existingSecret }}
{{- $_ := set $c.dpop.nonce "secret_file" (printf "%s/%s" (include "popguard.nonceDir" .) .Values.secrets.dpopNonce.key) }}
{{- end }}
{{- if eq $c.replay.backend "redis" }}
{{- $redis := $c.replay.redis }}
{{- if not $redis.username }}
{{- $_ := unset $redis "username" }}
{{- end }}
{{- if .Values.secrets.redisPassword.existingSecret }}
{{- $_ := set $redis "password_file" (printf "%s/%s" (include "popguard.redisDir" .) .Values.secrets.redisPassword.key) }}
{{- end }}
{{- else }}
{{- $_ := unset $c.replay "redis" }}
{{- end }}
{{- if .Values.metrics.enabled }}
{{- $_ := set $c "metrics" (dict "listen" (printf "%s:%d" .Values.listenHost (int .Values.containerPorts.http))) }}
{{- end }}
{{- toYaml $c }}
{{- end }}

{{/*
popguard.restartConfig is the part of the rendered popguard.yaml that popguard
reads only at start-up (docs/config.md, "Reloading": a reload that changes
these logs config_reload_needs_restart and keeps the old values). The
Deployment's checksum/restart-config annotation hashes it, so changing one of
these keys rolls the pods, while every other key is reloaded in place.
Keep the list in step with ConfigReloader::RestartOnlyChanges.
*/}}
{{- define "popguard.restartConfig" -}}
{{- $c := include "popguard.config" . | fromYaml }}
{{- $limits := default dict $c.limits }}
{{- $crypto := default dict $c.crypto }}
{{- $rollout := default dict $c.rollout }}
{{- $keys := dict "listen" $c.listen "tls" $c.tls "metrics" $c.metrics "replay" $c.replay "access_token_cache_entries" $c.access_token_cache_entries }}
{{- $_ := set $keys "limits" (pick $limits "max_inflight" "max_grpc_message_bytes") }}
{{- $_ := set $keys "crypto" (pick $crypto "batch_verification" "verify_threads" "max_batch" "inline_when_idle") }}
{{- $_ := set $keys "rollout" (pick $rollout "top_clients" "metric_clients") }}
{{- toJson $keys }}
{{- end }}

{{/*
popguard.redisPorts lists the distinct ports of config.replay.redis.addresses
(host:port, [v6]:port), for the NetworkPolicy egress rule.
*/}}
{{- define "popguard.redisPorts" -}}
{{- $ports := list }}
{{- range .Values.config.replay.redis.addresses }}
{{- $ports = append $ports (regexFind "[0-9]+$" .) }}
{{- end }}
{{- $ports | uniq | join "," }}
{{- end }}
