#!/usr/bin/env bash
# What `jobrun remote` adds over `jobrun local`, on loopback. The host is a
# private sshd on 127.0.0.2 (internal/sshtest) in front of this machine's
# Docker Engine; the job does nothing (the test trainer with fail=true,
# exit_code=0: it writes its failure file and exits 0 at once), has no
# inputs and a local output, so the remote run is pulled back here.
#
# Each of REPS iterations (default 5) runs, in a rotating order, a bare
# `docker run --rm` of the image (the peer, as in bench/overhead.sh),
# `jobrun local` and `jobrun remote --host gpu-box` with the agent already
# installed. It prints their medians, remote - local (the target is at most
# 1.5 s), remote/local, the first remote run (which installs the agent),
# where the remote run's time goes (from the timestamps in the request,
# the run record and the outcome) and what each SSH operation costs. The
# driver is BenchmarkRemoteOverhead in bench_remote_test.go.
#
# Then it runs bench/upload.sh, the other remote target (resending an
# unchanged dataset costs at most 2 % of the first send), with SIZE_MIB
# (default 1024) and UPLOAD_REPS (default 5); UPLOAD=0 skips it. COUNT
# runs each benchmark that many times.
#
#   bash bench/remote.sh [REPS]            (REPS also from the env: REPS=)
#   COUNT=3 SIZE_MIB=256 bash bench/remote.sh 10
#   UPLOAD=0 bash bench/remote.sh
#
# Needs a Docker Engine and /usr/sbin/sshd (.ci/install-sshd.sh installs it).
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-${REPS:-5}}
count=${COUNT:-1}
. bench/lib.sh

need /usr/sbin/sshd "run .ci/install-sshd.sh as root"
need docker "install Docker Engine"

cmd=(go test -v -count="$count" -run '^$' -bench '^BenchmarkRemoteOverhead$' -benchtime "${reps}x" .)
echo "remote run overhead: no-op job, $reps iterations; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "+ CGO_ENABLED=0 ${cmd[*]}"
CGO_ENABLED=0 "${cmd[@]}" | grep -Ev '^(goos|goarch|pkg|PASS|ok|=== |--- BENCH|Benchmark[A-Za-z]*$)'

if [ "${UPLOAD:-1}" != 0 ]; then
  echo
  echo "+ SIZE_MIB=${SIZE_MIB:-1024} COUNT=$count bash bench/upload.sh ${UPLOAD_REPS:-5}"
  SIZE_MIB=${SIZE_MIB:-1024} COUNT=$count bash bench/upload.sh "${UPLOAD_REPS:-5}"
fi
