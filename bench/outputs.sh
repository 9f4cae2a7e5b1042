#!/usr/bin/env bash
# Outputs to S3 (issue 5). A run directory whose model/ holds 1 GiB of
# float32 weights in 100 files is uploaded to a local S3 server (versitygw)
# by, interleaved, REPS times (default 3):
#
#   jobrun        artifacts.Push, uncompressed, file by file
#   s5cmd         s5cmd cp of model/ (its defaults: 256 workers, 5 parts of 50 MiB per file)
#   tar+aws       tar czf model.tar.gz, then aws s3 cp (SageMaker's forced compression)
#   jobrun-gzip   artifacts.Push, compression gzip (pgzip streamed into a multipart upload)
#   pigz+aws      tar | pigz > model.tar.gz, then aws s3 cp (the parallel peer)
#
# It prints each case's median wall time and peak RSS (/usr/bin/time -v), and
# the ratios the issue sets targets for.
#
#   bash bench/outputs.sh [REPS]
#
# Needs versitygw (internal/s3test), /usr/bin/aws (apt-get install awscli),
# /usr/bin/time (apt-get install time) and pigz; builds s5cmd v2.3.0 in a
# scratch module outside the repository (cached in ~/.cache/jobrun-bench).
# The driver is artifacts/internal/pushbench until jobrun has `jobrun push`.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
size_mib=${SIZE_MIB:-1024}
files=${FILES:-100}
work=$(mktemp -d /tmp/jobrun-outputs.XXXXXX)
# The server keeps its objects in memory when it can (/dev/shm), so that
# the disk's write-back does not decide the times: the clients are measured.
s3dir=$(mktemp -d "${S3_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}/jobrun-outputs-s3.XXXXXX")
. bench/lib.sh
trap bench_cleanup EXIT

bench_peers
need pigz "apt-get install -y pigz"

go build -trimpath -o "$work/pushbench" ./artifacts/internal/pushbench
run="$work/runs/bench-job"
"$work/pushbench" gen "$run" "$size_mib" "$files"

# The S3 server, its credentials for every client, path-style addressing.
start_s3

# measure NAME ARCHIVE CMD...: runs CMD under /usr/bin/time, keeps wall
# seconds, peak RSS (KiB) and the size of ARCHIVE (a path in the bucket's
# folder or the work folder; - for none), then empties the bucket and
# drops the tarball.
measure() {
  local name=$1 archive=$2 size=0
  shift 2
  /usr/bin/time -v -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" ||
    { echo "outputs.sh: $name failed:" >&2; cat "$work/cmd.err" "$work/time.out" >&2; exit 1; }
  [ "$archive" != - ] && size=$(stat -c %s "$archive")
  awk -v n="$name" -v size="$size" '/Elapsed \(wall clock\)/ { split($NF, t, ":"); s = t[1] * 60 + t[2]; if (length(t) == 3) s = t[1] * 3600 + t[2] * 60 + t[3] }
    /Maximum resident set size/ { rss = $NF } END { print n, s, rss, size }' "$work/time.out" >>"$work/results"
  rm -rf "$s3dir/bench/"* "$work/model.tar.gz"
}

tar_aws() { tar czf "$work/model.tar.gz" -C "$run/model" . && aws s3 cp --quiet "$work/model.tar.gz" s3://bench/tar/model.tar.gz; }
pigz_aws() { tar -C "$run/model" -cf - . | pigz >"$work/model.tar.gz" && aws s3 cp --quiet "$work/model.tar.gz" s3://bench/pigz/model.tar.gz; }
export -f tar_aws pigz_aws aws
export work run endpoint

load=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/results"
for i in $(seq "$reps"); do
  echo "rep $i/$reps" >&2
  measure jobrun - "$work/pushbench" push "$run" s3://bench/jobrun
  measure s5cmd - "$s5cmd" --endpoint-url "$endpoint" cp "$run/model/*" s3://bench/s5cmd/model/
  measure tar+aws "$work/model.tar.gz" bash -c tar_aws
  measure jobrun-gzip "$s3dir/bench/gzip/bench-job/output/model.tar.gz" "$work/pushbench" push -gzip "$run" s3://bench/gzip
  measure pigz+aws "$work/model.tar.gz" bash -c pigz_aws
done

# Medians and ratios.
awk -v reps="$reps" -v mib="$size_mib" -v files="$files" -v load="$load" '
  { t[$1] = t[$1] " " $2; r[$1] = ($3 > r[$1] ? $3 : r[$1]); z[$1] = $4 }
  function median(list,   a, n, i, j, x) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  END {
    printf "model: %d MiB of float32 weights in %d files; %d reps, interleaved; load average before: %s\n\n", mib, files, reps, load
    printf "%-12s %10s %14s %18s\n", "case", "median s", "peak RSS MiB", "model.tar.gz MiB"
    split("jobrun s5cmd tar+aws jobrun-gzip pigz+aws", order, " ")
    for (k = 1; k <= 5; k++) {
      c = order[k]; m[c] = median(t[c])
      printf "%-12s %10.2f %14.0f %18s\n", c, m[c], r[c] / 1024, z[c] ? sprintf("%.1f", z[c] / 1048576) : "-"
    }
    printf "\n"
    printf "jobrun / tar+aws       %5.2fx  (target <= 0.2)\n", m["jobrun"] / m["tar+aws"]
    printf "jobrun / s5cmd         %5.2fx  (target <= 1.0)\n", m["jobrun"] / m["s5cmd"]
    printf "jobrun-gzip / tar+aws  %5.2fx  (target <= 0.5)\n", m["jobrun-gzip"] / m["tar+aws"]
    printf "pigz+aws / tar+aws     %5.2fx  (the parallel peer)\n", m["pigz+aws"] / m["tar+aws"]
    printf "jobrun peak RSS        %5.0f MiB, gzip mode %.0f MiB (target <= 150)\n", r["jobrun"] / 1024, r["jobrun-gzip"] / 1024
  }' "$work/results"
