#!/usr/bin/env bash
# Startup overhead of `jobrun local` against a bare `docker run --rm` of the
# same image with the same mounts, environment, hostname, shm size and
# network, in the same session. The job trains one epoch on four rows and
# exits, so nearly all the time is container start and stop.
#
#   bash bench/overhead.sh [REPS]     (default 10; needs a Docker Engine)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-10}
work=$(mktemp -d /tmp/jobrun-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -trimpath -o "$work/jobrun" .
mkdir -p "$work/ctx" "$work/data/train"
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$work/ctx/trainer" ./testdata/trainer
printf 'FROM scratch\nCOPY trainer /trainer\nENTRYPOINT ["/trainer"]\n' > "$work/ctx/Dockerfile"
docker build -q -t jobrun-bench:1 "$work/ctx" >/dev/null
printf '1,2,1\n-1,-2,0\n2,1,1\n-2,-1,0\n' > "$work/data/train/d.csv"
cat > "$work/train.yaml" <<YAML
name: bench
image: jobrun-bench:1
hyperparameters: {epochs: 1}
inputs:
  train: ./data/train
YAML

# The same /opt/ml tree and environment for the bare docker run.
"$work/jobrun" render "$work/train.yaml" "$work/ml" --name bench-bare >/dev/null
docker network inspect jobrun >/dev/null 2>&1 || "$work/jobrun" local "$work/train.yaml" -o "$work/runs" >/dev/null 2>&1

now() { date +%s.%N; }
bare() {
  mkdir -p "$work/bare/model" "$work/bare/output/data"
  docker run --rm --network jobrun --hostname algo-1 --shm-size 1g --env-file "$work/ml/env" \
    --mount "type=bind,src=$work/ml/input/config,dst=/opt/ml/input/config,readonly" \
    --mount "type=bind,src=$work/data/train,dst=/opt/ml/input/data/train,readonly" \
    --mount "type=bind,src=$work/bare/model,dst=/opt/ml/model" \
    --mount "type=bind,src=$work/bare/output,dst=/opt/ml/output" \
    jobrun-bench:1 train >/dev/null 2>&1
}
jr() { "$work/jobrun" local "$work/train.yaml" -o "$work/runs" >/dev/null 2>&1; }

declare -a tb tj
for i in $(seq 1 "$reps"); do          # interleaved, so drift hits both alike
  s=$(now); bare; e=$(now); tb+=("$(echo "$e - $s" | bc)")
  s=$(now); jr;   e=$(now); tj+=("$(echo "$e - $s" | bc)")
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1; s+=$1} END {printf "%.3f %.3f", s/NR, (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
read -r mb medb <<<"$(stats "${tb[@]}")"
read -r mj medj <<<"$(stats "${tj[@]}")"
echo "reps: $reps"
printf 'docker run --rm : mean %ss  median %ss\n' "$mb" "$medb"
printf 'jobrun local    : mean %ss  median %ss\n' "$mj" "$medj"
printf 'ratio (median)  : %.2fx  (%+.0f ms)\n' "$(echo "$medj / $medb" | bc -l)" "$(echo "($medj - $medb) * 1000" | bc -l)"
docker rmi jobrun-bench:1 >/dev/null
