#!/usr/bin/env bash
# Installs the servers the tests start themselves (internal/s3test runs
# versitygw). Idempotent: skips what is already there. Runs as root on a
# fresh Debian machine with Go at /usr/local/go.
set -euo pipefail

VERSITYGW_VERSION=v1.8.0

export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH

log() { echo "== install-test-servers: $*"; }

install_versitygw() {
  local gobin
  if command -v versitygw >/dev/null 2>&1; then
    log "versitygw already installed: $(command -v versitygw)"
    return
  fi
  gobin="$(go env GOBIN)"
  [ -n "$gobin" ] || gobin="$(go env GOPATH | cut -d: -f1)/bin"
  for p in "$gobin/versitygw" "$HOME/go/bin/versitygw"; do
    if [ -x "$p" ]; then
      log "versitygw already installed: $p"
      return
    fi
  done
  log "installing versitygw $VERSITYGW_VERSION into $gobin (about a minute)"
  GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION"
  log "installed $gobin/versitygw"
}

install_versitygw
