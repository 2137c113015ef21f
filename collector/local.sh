#!/usr/bin/env bash
# The telemetry stack of docker-compose.yaml without Docker: the real OpenTelemetry
# Collector and Jaeger v2 built from their Go modules, and Debian's Prometheus, on loopback.
#
#   collector/local.sh build   # build the pinned releases (versions.env) into the bin dir; skipped when there
#   collector/local.sh up      # start Prometheus, Jaeger, the collector; wait until healthy; print where to look
#   collector/local.sh down    # stop them (by the PIDs `up` wrote)
#   collector/local.sh paths   # print the binaries' paths (KEY=path lines)
#
# Needs Go (>= 1.25) and the Go module proxy for `build`; `apt-get install prometheus` for `up`.
# Settings (environment):
#   AGENTOTEL_BIN_DIR   where binaries go (default ~/.cache/agentotel/bin)
#   AGENTOTEL_RUN_DIR   logs, PID files, Prometheus data (default ~/.cache/agentotel/run)
#   the configs' own variables (COLLECTOR_*_PORT, JAEGER_*_PORT, ...), e.g. to move a port.
# The configs are the ones compose mounts; only their ${env:...} values differ here.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$HERE/versions.env"
BIN_DIR=${AGENTOTEL_BIN_DIR:-$HOME/.cache/agentotel/bin}
RUN_DIR=${AGENTOTEL_RUN_DIR:-$HOME/.cache/agentotel/run}
CONFIG_HASH=$(sha256sum "$HERE/builder-config.yaml" | cut -c1-12)
JAEGER_BIN=$BIN_DIR/jaeger-$JAEGER_VERSION
OTELCOL_BIN=$BIN_DIR/otelcol-agentotel-$OTELCOL_VERSION-$CONFIG_HASH

say() { printf '%s\n' "local.sh: $*" >&2; }
die() { say "$*"; exit 1; }

go_env() {
  command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
  command -v go >/dev/null 2>&1 || die "go not found: install Go 1.25 or later (https://go.dev/dl/) and put it on PATH"
  # Static, reproducible, no toolchain downloads; -mod=mod lets the wrapper module resolve its go.sum.
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
}

# ---------------------------------------------------------------------------- build
build_jaeger() {
  if [ -x "$JAEGER_BIN" ]; then say "jaeger $JAEGER_VERSION already built: $JAEGER_BIN"; return; fi
  local work started gomod
  work=$(mktemp -d) && started=$(date +%s)
  say "building jaeger $JAEGER_VERSION (github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION, cmd/jaeger)"
  # `go install github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_MODULE_VERSION` refuses a module
  # whose go.mod has replace directives, and Jaeger's has; so build the same package from a
  # throw-away module that requires that release and repeats its replace directives.
  (
    cd "$work"
    go mod init agentotel.local/jaeger-build >/dev/null 2>&1
    go mod edit -require="github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION"
    gomod=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" \
      | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
    [ -f "$gomod" ] || die "could not download github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION"
    awk '/^replace \(/{block=1; next} block && /^\)/{block=0; next}
         block {print; next} /^replace /{sub(/^replace /, ""); print}' "$gomod" \
      | while read -r old _ new version; do go mod edit -replace="$old=$new@$version"; done
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/jaeger"\n' >tools.go
    go build -trimpath -o "$JAEGER_BIN.partial" \
      -ldflags="-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v$JAEGER_VERSION" \
      github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mv "$JAEGER_BIN.partial" "$JAEGER_BIN"
  ln -sf "$(basename "$JAEGER_BIN")" "$BIN_DIR/jaeger"
  rm -rf "$work"
  say "jaeger built in $(($(date +%s) - started)) s: $JAEGER_BIN ($(du -h "$JAEGER_BIN" | cut -f1))"
}

build_collector() {
  if [ -x "$OTELCOL_BIN" ]; then say "collector $OTELCOL_VERSION already built: $OTELCOL_BIN"; return; fi
  local work started
  work=$(mktemp -d) && started=$(date +%s)
  say "building the collector $OTELCOL_VERSION with ocb from builder-config.yaml"
  GOBIN=$work/bin go install -trimpath -ldflags="-s -w" "go.opentelemetry.io/collector/cmd/builder@v$OTELCOL_VERSION"
  # ocb generates the sources, runs `go mod tidy` and builds with -trimpath -ldflags="-s -w".
  GOFLAGS= "$work/bin/builder" --config "$HERE/builder-config.yaml" --output-path "$work/otelcol" >"$work/ocb.log" 2>&1 \
    || { cat "$work/ocb.log" >&2; die "ocb failed (log above)"; }
  mv "$work/otelcol/otelcol-agentotel" "$OTELCOL_BIN"
  ln -sf "$(basename "$OTELCOL_BIN")" "$BIN_DIR/otelcol-agentotel"
  rm -rf "$work"
  say "collector built in $(($(date +%s) - started)) s: $OTELCOL_BIN ($(du -h "$OTELCOL_BIN" | cut -f1))"
}

build() {
  mkdir -p "$BIN_DIR"
  if [ -x "$JAEGER_BIN" ] && [ -x "$OTELCOL_BIN" ]; then
    say "up to date: jaeger $JAEGER_VERSION, collector $OTELCOL_VERSION in $BIN_DIR"
    return
  fi
  go_env
  build_jaeger
  build_collector
}

# ---------------------------------------------------------------------------- up / down
local_env() {
  # Loopback and the compose stack's published ports; Jaeger's internal ports move aside
  # so that they do not collide with the collector's on one host.
  export COLLECTOR_BIND=${COLLECTOR_BIND:-127.0.0.1} JAEGER_BIND=${JAEGER_BIND:-127.0.0.1}
  export COLLECTOR_OTLP_GRPC_PORT=${COLLECTOR_OTLP_GRPC_PORT:-4317} COLLECTOR_OTLP_HTTP_PORT=${COLLECTOR_OTLP_HTTP_PORT:-4318}
  export COLLECTOR_HEALTH_PORT=${COLLECTOR_HEALTH_PORT:-13133} COLLECTOR_PROMETHEUS_PORT=${COLLECTOR_PROMETHEUS_PORT:-8889}
  export COLLECTOR_TELEMETRY_PORT=${COLLECTOR_TELEMETRY_PORT:-8888}
  export JAEGER_UI_PORT=${JAEGER_UI_PORT:-16686} JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
  export JAEGER_OTLP_PORT=${JAEGER_OTLP_PORT:-14317} JAEGER_HEALTH_PORT=${JAEGER_HEALTH_PORT:-13134}
  export JAEGER_TELEMETRY_PORT=${JAEGER_TELEMETRY_PORT:-14269}
  export JAEGER_OTLP_ENDPOINT=${JAEGER_OTLP_ENDPOINT:-127.0.0.1:$JAEGER_OTLP_PORT}
  PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
  export PROMETHEUS_URL=${PROMETHEUS_URL:-http://127.0.0.1:$PROMETHEUS_PORT}
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_http() { # name url seconds
  local deadline=$(($(date +%s) + $3))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      say "$1 not healthy after $3 s ($2); its log: $RUN_DIR/$1.log"; tail -n 20 "$RUN_DIR/$1.log" >&2; down; exit 1
    fi
    sleep 0.2
  done
}

start() { # name command...
  local name=$1; shift
  nohup "$@" >"$RUN_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

up() {
  [ -x "$JAEGER_BIN" ] && [ -x "$OTELCOL_BIN" ] || die "binaries missing in $BIN_DIR: run \`collector/local.sh build\` first"
  command -v prometheus >/dev/null 2>&1 || die "prometheus not found: apt-get install prometheus (Debian/Ubuntu)"
  command -v curl >/dev/null 2>&1 || die "curl not found: apt-get install curl"
  local_env
  mkdir -p "$RUN_DIR"
  for pidfile in "$RUN_DIR"/*.pid; do [ -e "$pidfile" ] && die "already up (PID files in $RUN_DIR): run \`$0 down\` first"; done
  for port in "$COLLECTOR_OTLP_GRPC_PORT" "$COLLECTOR_OTLP_HTTP_PORT" "$COLLECTOR_HEALTH_PORT" "$COLLECTOR_PROMETHEUS_PORT" \
    "$COLLECTOR_TELEMETRY_PORT" "$JAEGER_UI_PORT" "$JAEGER_QUERY_GRPC_PORT" "$JAEGER_OTLP_PORT" "$JAEGER_HEALTH_PORT" \
    "$JAEGER_TELEMETRY_PORT" "$PROMETHEUS_PORT"; do
    port_free "$port" || die "port $port on 127.0.0.1 is in use (the compose stack? \`docker compose -f collector/docker-compose.yaml down\`)"
  done
  # Prometheus reads no environment: its scrape targets are prometheus.yml's with the compose
  # host name replaced by loopback and the ports above.
  sed -e "s|otel-collector:8889|127.0.0.1:$COLLECTOR_PROMETHEUS_PORT|; s|otel-collector:8888|127.0.0.1:$COLLECTOR_TELEMETRY_PORT|" \
      -e "s|localhost:9090|127.0.0.1:$PROMETHEUS_PORT|; s|/etc/prometheus/alerts.yaml|$HERE/alerts.yaml|" \
      "$HERE/prometheus.yml" >"$RUN_DIR/prometheus.yml"
  start prometheus prometheus --config.file="$RUN_DIR/prometheus.yml" --storage.tsdb.path="$RUN_DIR/prometheus-data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --web.enable-lifecycle
  wait_http prometheus "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" 60
  start jaeger "$JAEGER_BIN" --config "$HERE/jaeger.yaml"
  wait_http jaeger "http://127.0.0.1:$JAEGER_HEALTH_PORT/status" 60
  start otel-collector "$OTELCOL_BIN" --config "$HERE/otel-collector.yaml"
  wait_http otel-collector "http://127.0.0.1:$COLLECTOR_HEALTH_PORT/" 60
  cat <<INFO
The stack is up (logs and PIDs in $RUN_DIR; stop it with \`collector/local.sh down\`):
  OTLP       gRPC 127.0.0.1:$COLLECTOR_OTLP_GRPC_PORT, HTTP 127.0.0.1:$COLLECTOR_OTLP_HTTP_PORT   (agentotel demo --otlp; agentotel doctor)
  Jaeger     http://127.0.0.1:$JAEGER_UI_PORT   API: /api/services, /api/traces?service=..., /api/v3/traces
             (built from Go modules, so its UI page is a placeholder: see docs/jaeger.md)
  Prometheus http://127.0.0.1:$PROMETHEUS_PORT   alerts: http://127.0.0.1:$PROMETHEUS_PORT/alerts
INFO
}

down() {
  local stopped=0
  for name in otel-collector jaeger prometheus; do
    local pidfile="$RUN_DIR/$name.pid"
    [ -f "$pidfile" ] || continue
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      stopped=$((stopped + 1))
    fi
    rm -f "$pidfile"
  done
  say "stopped $stopped process(es)"
}

paths() {
  printf 'JAEGER=%s\nOTELCOL=%s\n' "$JAEGER_BIN" "$OTELCOL_BIN"
}

case "${1:-}" in
  build) build ;;
  up) up ;;
  down) down ;;
  paths) paths ;;
  *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
