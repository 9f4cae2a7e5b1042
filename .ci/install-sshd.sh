#!/usr/bin/env bash
# Installs what internal/sshtest needs: Debian's OpenSSH server (the tests
# start private sshd instances themselves; the system service is left
# stopped) and iproute2 for network namespaces and veth pairs (`ip netns`).
# Also the OpenSSH client, which a few tests use to cross-check what jobrun
# writes (known_hosts). Idempotent: installs only what is missing. Runs as
# root on Debian.
set -euo pipefail

log() { echo "== install-sshd: $*"; }

missing=()
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
[ -x /usr/bin/ssh ] || missing+=(openssh-client)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v ss >/dev/null 2>&1 || missing+=(iproute2)

if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d (or no systemd) may refuse to start the service: fine, the
  # tests run their own sshd.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "openssh-server, openssh-client and iproute2 already installed"
fi

# sshd's privilege separation directory; the service creates it when it
# starts, which it does not here.
mkdir -p /run/sshd
chmod 0755 /run/sshd

/usr/sbin/sshd -V 2>&1 | head -n1 | sed 's/^/== install-sshd: /' || true
