#!/usr/bin/env bash
# Uploading a local dataset to a GPU host over SSH (runner/remote/upload)
# and uploading it again unchanged. The host is a private sshd on
# 127.0.0.2 (internal/sshtest) running the host side as a separate binary
# (runner/remote/upload/internal/uploadhost), so every byte crosses a real
# SSH connection. The dataset is SIZE_MIB of random data (default 1024) in
# 8 files; it is sent once to an empty blob store, then REPS times again
# (default 5), unchanged, with the hash cache the first send filled.
#
# It prints the first send's time (and its hash, send and link parts), the
# median resend's, and resend/first (the target is at most 2 %). COUNT runs
# the whole thing that many times, each with fresh data and store.
#
#   bash bench/upload.sh [REPS]            (REPS also from the env: REPS=)
#   SIZE_MIB=256 COUNT=3 bash bench/upload.sh
#
# Data, blob store and destination live in memory (/dev/shm when there is
# one; BENCH_DIR overrides) so that the disk does not decide the times.
# Needs /usr/sbin/sshd (.ci/install-sshd.sh installs it); the driver is
# BenchmarkResend in runner/remote/upload/ssh_test.go.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-${REPS:-5}}
count=${COUNT:-1}
size=${SIZE_MIB:-1024}
base=${BENCH_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
work=$(mktemp -d "$base/jobrun-upload.XXXXXX")
. bench/lib.sh
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

need /usr/sbin/sshd "run .ci/install-sshd.sh as root"

echo "dataset: $size MiB in 8 files; $reps resends; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
TMPDIR=$work UPLOAD_BENCH_MIB=$size CGO_ENABLED=0 \
  go test -count="$count" -run '^$' -bench '^BenchmarkResend$' -benchtime "${reps}x" ./runner/remote/upload |
  grep -Ev '^(goos|goarch|pkg|PASS|ok|--- BENCH)'
