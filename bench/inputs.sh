#!/usr/bin/env bash
# Inputs from S3. A local S3 server (versitygw on 127.0.0.1, started here
# with random credentials, stopped on exit) holds
#
#   small/  SMALL_N objects of 10 KiB (default 10,000)
#   big/    2 objects of BIG_MB MiB each (default 1024)
#
# and, interleaved, REPS times (default 3), each set is downloaded into a
# fresh folder by
#
#   jobrun-cold  channels.Stager (File mode channel) with an empty cache
#   jobrun-warm  the same, again, with the cache the cold run filled
#   jobrun-fastfile  the set mounted as a FastFile channel (empty cache) and
#                every file read through the mount in key order, as a
#                trainer would (no target: what FastFile's start-at-once
#                costs in total against File mode's cold staging)
#   s5cmd        s5cmd cp at its best settings: --numworkers 64 for the small
#                objects, cp -c 1 -p 50 for the big ones
#   awscli       /usr/bin/aws s3 cp --recursive (its defaults)
#
# and one big object is streamed to /dev/null as Pipe mode reads it:
#
#   jobrun-cat   Stager.Pin then Stager.Open (no cache), to stdout | cat, the
#                pipe grown to 1 MiB as Pipe mode grows its FIFOs
#   s5cmd-cat    s5cmd cat -c 1 | cat
#
# and, as floors for the big set: both big objects fetched at once the same
# way and thrown away (fetch-only), and the same number of bytes written
# to the destination's file system by dd from /dev/zero (write-only). A
# client that downloads the set must do both on the same two cores.
#
# It prints each case's median wall time, client CPU seconds (user + sys)
# and peak RSS (/usr/bin/time -v), and the ratios jobrun/s5cmd,
# jobrun/awscli and warm/cold.
#
#   bash bench/inputs.sh [REPS]            (REPS also from the env: REPS=)
#   SMALL_N=2000 BIG_MB=256 bash bench/inputs.sh 3
#
# Everything (server data, cache, destinations) lives in memory (/dev/shm
# when there is one; BENCH_DIR overrides) so that the disk does not decide
# the times: the clients are measured. Needs versitygw (go install
# github.com/versity/versitygw/cmd/versitygw@v1.8.0), /usr/bin/aws
# (apt-get install awscli), /usr/bin/time (apt-get install time); builds
# s5cmd v2.3.0 in a scratch module outside the repository (cached in
# ~/.cache/jobrun-bench). The jobrun driver is channels/internal/stagebench.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-${REPS:-3}}
small_n=${SMALL_N:-10000}
small_kib=10
big_mb=${BIG_MB:-1024}
base=${BENCH_DIR:-$([ -d /dev/shm ] && echo /dev/shm || echo /tmp)}
work=$(mktemp -d "$base/jobrun-inputs.XXXXXX")
s3dir=$(mktemp -d "$base/jobrun-inputs-s3.XXXXXX")
. bench/lib.sh
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_peers

go build -trimpath -o "$work/stagebench" ./channels/internal/stagebench
sb=$work/stagebench

# The S3 server on loopback only, random credentials for every client,
# path-style addressing.
start_s3 --keep-alive

# The data: generated locally, uploaded with s5cmd, local copies dropped.
echo "uploading $small_n x $small_kib KiB and 2 x $big_mb MiB" >&2
"$sb" gen "$work/src/small" "$small_n" $((small_kib << 10))
"$sb" gen "$work/src/big" 2 $((big_mb << 20))
s5 --numworkers 64 cp "$work/src/small/*" s3://bench/small/ >/dev/null
s5 cp "$work/src/big/*" s3://bench/big/ >/dev/null
rm -rf "$work/src"
# Touch as much fresh memory as a big-set download needs, once: on a new
# virtual machine the first writes to guest memory that was never used
# cost several times more (the hypervisor backs it then), and would be
# billed to whichever case comes first.
head -c $((2 * big_mb + 512))M /dev/zero >"$work/touch" && rm -f "$work/touch"
small_bytes=$((small_n * (small_kib << 10)))
big_bytes=$((2 * (big_mb << 20)))

# measure SET NAME CMD...: runs CMD under /usr/bin/time -v and keeps wall
# seconds, CPU seconds (user + sys) and peak RSS (KiB) of the set's case.
measure() {
  local set=$1 name=$2
  shift 2
  /usr/bin/time -v -o "$work/time.out" "$@" >/dev/null 2>"$work/cmd.err" ||
    { echo "inputs.sh: $set $name failed:" >&2; cat "$work/cmd.err" "$work/time.out" >&2; exit 1; }
  awk -v n="$set/$name" '/Elapsed \(wall clock\)/ { split($NF, t, ":"); s = t[1] * 60 + t[2]; if (length(t) == 3) s = t[1] * 3600 + t[2] * 60 + t[3] }
    /User time \(seconds\)/ { cpu += $NF } /System time \(seconds\)/ { cpu += $NF }
    /Maximum resident set size/ { rss = $NF } END { print n, s, cpu, rss }' "$work/time.out" >>"$work/results"
  tail -n 1 "$work/results" >&2
}

# check DIR COUNT BYTES: the download is complete; then it is removed.
check() {
  local got
  got=$(find "$1" -type f -printf '%s\n' | awk '{ n++; b += $1 } END { printf "%.0f %.0f\n", n, b }')
  [ "$got" = "$2 $3" ] || { echo "inputs.sh: $1 holds $got (files bytes), want $2 $3" >&2; exit 1; }
  rm -rf "$1"
}

s5cat() { "$s5cmd" --endpoint-url "$endpoint" cat -c 1 s3://bench/big/f-00000 | cat >/dev/null; }
sbcat() { "$sb" cat s3://bench/big/f-00000 | cat >/dev/null; }
# Both big objects fetched at once and thrown away: what any client's
# download of the big set costs here before it writes a byte.
sbnull() { "$sb" cat s3://bench/big/f-00000 >/dev/null & "$sb" cat s3://bench/big/f-00001 >/dev/null; wait; }
export -f s5cat sbcat sbnull
export s5cmd sb endpoint

load=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$work/results"
cache=$work/cache
dst=$work/dst
for i in $(seq "$reps"); do
  echo "rep $i/$reps" >&2
  for set in small big; do
    if [ $set = small ]; then n=$small_n bytes=$small_bytes s5opts=(--numworkers 64 cp); else n=2 bytes=$big_bytes s5opts=(cp -c 1 -p 50); fi
    rm -rf "$cache"
    measure $set jobrun-cold "$sb" stage -cache "$cache" -work "$cache/bench-work" "s3://bench/$set/"
    check "$cache/bench-work" "$n" "$bytes"
    measure $set jobrun-warm "$sb" stage -cache "$cache" -work "$cache/bench-work" "s3://bench/$set/"
    check "$cache/bench-work" "$n" "$bytes"
    rm -rf "$cache"
    measure $set jobrun-fastfile "$sb" fastfile -cache "$cache" -mnt "$work/mnt" "s3://bench/$set/"
    rm -rf "$cache"
    measure $set s5cmd "$s5cmd" --endpoint-url "$endpoint" "${s5opts[@]}" "s3://bench/$set/*" "$dst/"
    check "$dst" "$n" "$bytes"
    measure $set awscli /usr/bin/aws --endpoint-url "$endpoint" s3 cp --recursive --quiet "s3://bench/$set/" "$dst/"
    check "$dst" "$n" "$bytes"
  done
  measure big fetch-only bash -c sbnull
  measure big write-only dd if=/dev/zero of="$dst.dd" bs=1M count=$((2 * big_mb)) status=none
  rm -f "$dst.dd"
  measure cat jobrun-cat bash -c sbcat
  measure cat s5cmd-cat bash -c s5cat
done

# Medians and ratios.
awk -v reps="$reps" -v small_n="$small_n" -v kib="$small_kib" -v mb="$big_mb" -v load="$load" '
  { t[$1] = t[$1] " " $2; c[$1] = c[$1] " " $3; r[$1] = r[$1] " " $4 }
  function median(list,   a, n, i, j, x) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  function row(k) {
    T[k] = median(t[k]); C[k] = median(c[k]); R[k] = median(r[k])
    printf "%-22s %10.2f %10.2f %14.0f\n", k, T[k], C[k], R[k] / 1024
  }
  function ratio(label, a, b) { printf "%-38s wall %6.2fx   CPU %6.2fx   RSS %6.2fx\n", label, T[a] / T[b], C[a] / C[b], R[a] / R[b] }
  END {
    printf "small: %d objects x %d KiB; big: 2 objects x %d MiB; cat: 1 x %d MiB\n", small_n, kib, mb, mb
    printf "%d reps, interleaved, medians; load average before: %s\n\n", reps, load
    printf "%-22s %10s %10s %14s\n", "case", "wall s", "CPU s", "peak RSS MiB"
    split("small big", sets, " ")
    split("jobrun-cold jobrun-warm jobrun-fastfile s5cmd awscli", cases, " ")
    for (s = 1; s <= 2; s++) for (k = 1; k <= 5; k++) row(sets[s] "/" cases[k])
    row("big/fetch-only"); row("big/write-only"); row("cat/jobrun-cat"); row("cat/s5cmd-cat")
    printf "\n"
    for (s = 1; s <= 2; s++) {
      x = sets[s]
      ratio(x ": jobrun-cold / s5cmd", x "/jobrun-cold", x "/s5cmd")
      ratio(x ": jobrun-cold / awscli", x "/jobrun-cold", x "/awscli")
      ratio(x ": jobrun-warm / s5cmd", x "/jobrun-warm", x "/s5cmd")
      ratio(x ": jobrun-warm / jobrun-cold", x "/jobrun-warm", x "/jobrun-cold")
      ratio(x ": jobrun-fastfile / jobrun-cold", x "/jobrun-fastfile", x "/jobrun-cold")
    }
    ratio("big: fetch-only / awscli", "big/fetch-only", "big/awscli")
    ratio("cat: jobrun / s5cmd", "cat/jobrun-cat", "cat/s5cmd-cat")
  }' "$work/results"
