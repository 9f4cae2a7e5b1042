# Shared by the bench/ scripts (sourced, not run): the peers and the local
# S3 server every benchmark measures against. The caller sets $work and
# $s3dir (temporary folders) and calls bench_cleanup from its EXIT trap.

bench_name=$(basename "$0")
gw_pid=

# need CMD HINT: stop with HINT when CMD is missing.
need() { command -v "$1" >/dev/null || { echo "$bench_name: $1 not found; $2" >&2; exit 1; }; }

# bench_peers checks the tools every benchmark uses and sets $versitygw and
# $s5cmd, building s5cmd v2.3.0 from the module proxy once (cached in
# ~/.cache/jobrun-bench, never in the repository).
bench_peers() {
  need /usr/bin/aws "apt-get install -y awscli"
  need /usr/bin/time "apt-get install -y time"
  versitygw=${JOBRUN_VERSITYGW:-$(command -v versitygw || echo "$(go env GOPATH)/bin/versitygw")}
  need "$versitygw" "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"
  s5cmd=${S5CMD:-$HOME/.cache/jobrun-bench/s5cmd}
  if [ ! -x "$s5cmd" ]; then
    mkdir -p "$(dirname "$s5cmd")" "$work/s5cmd-mod"
    (cd "$work/s5cmd-mod" && go mod init s5build >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go get github.com/peak/s5cmd/v2@v2.3.0 >/dev/null 2>&1 &&
      GOFLAGS=-mod=mod go build -o "$s5cmd" github.com/peak/s5cmd/v2)
  fi
}

# start_s3 [VERSITYGW FLAGS...]: versitygw on 127.0.0.1 only, storing in
# $s3dir, with random credentials exported for every client (AWS SDK, aws,
# s5cmd) and path-style addressing; creates the bucket "bench". Sets
# $endpoint and defines aws and s5 with the endpoint.
start_s3() {
  local key secret port ok=
  key=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  port=$((20000 + RANDOM % 20000))
  ROOT_ACCESS_KEY_ID=$key ROOT_SECRET_ACCESS_KEY=$secret \
    "$versitygw" --port "127.0.0.1:$port" "$@" --quiet posix "$s3dir" >"$work/versitygw.log" 2>&1 &
  gw_pid=$!
  endpoint="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=$key AWS_SECRET_ACCESS_KEY=$secret AWS_REGION=us-east-1
  export AWS_ENDPOINT_URL_S3=$endpoint S3_ENDPOINT_URL=$endpoint AWS_CONFIG_FILE="$work/aws-config"
  export AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials" AWS_PROFILE=default
  printf '[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n' >"$AWS_CONFIG_FILE"
  : >"$AWS_SHARED_CREDENTIALS_FILE"
  for _ in $(seq 100); do aws s3 mb s3://bench >/dev/null 2>&1 && { ok=1; break; }; sleep 0.1; done
  [ -n "$ok" ] || { echo "$bench_name: versitygw did not come up:" >&2; cat "$work/versitygw.log" >&2; exit 1; }
}

aws() { /usr/bin/aws --endpoint-url "$endpoint" "$@"; }
s5() { "$s5cmd" --endpoint-url "$endpoint" "$@"; }

# bench_cleanup stops the server and removes the temporary folders.
bench_cleanup() {
  if [ -n "$gw_pid" ]; then kill "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null || true; fi
  rm -rf "$work" "$s3dir"
}
