#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder and parser (fuzz/: one libFuzzer target per parser,
# each calling hybridauth::fuzzing, the functions the server itself calls). Not part of the
# test suite: what it finds is replayed there (tests/fuzz_regressions.rs) once its input is
# committed under fuzz/regressions/TARGET/.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]     (60 s per target by default; all targets)
# Runs $JOBS targets at a time (default: the number of cores), each with a seed corpus from
# real traffic (fuzz/seeds/TARGET, made by fuzz/seeds/capture.py) and its own growing corpus
# (fuzz/corpus/TARGET, not committed). Memory and time per input are bounded (-rss_limit_mb,
# -timeout; and a live-heap bound per input in fuzz/src/lib.rs). Prints, per target,
# executions, coverage (edges and features) and findings; exits 1 when anything was found
# (the inputs are in fuzz/artifacts/TARGET/).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
EACH=${1:-60}
[ $# -gt 0 ] && shift
mapfile -t ALL < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^hybridauth-fuzz$')
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL[@]}")
JOBS=${JOBS:-$(nproc)}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
# rustc's sanitizer-coverage pass, as cargo-fuzz passes it (stable accepts every flag here).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the flags off build scripts and proc macros.
cargo build --release --target "$TRIPLE" --bins -q
BIN="target/$TRIPLE/release"
mkdir -p logs
fuzz_one() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t" "seeds/$t"
  "$BIN/$t" "corpus/$t" "seeds/$t" -max_total_time="$EACH" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"logs/$t.log" 2>&1 || true
  # The CPU the target's process used (user + system), from the shell's accounting.
  # (`times` itself, not in a pipeline: a pipeline's subshell has no children to count.)
  times >"logs/$t.times"
  tail -1 "logs/$t.times" | awk '{ split($1, u, "m"); split($2, s, "m"); printf "%.0f\n", u[1]*60 + u[2] + s[1]*60 + s[2] }' >"logs/$t.cpu"
}
running=0
for t in "${TARGETS[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then wait -n || true; running=$((running - 1)); fi
  fuzz_one "$t" & running=$((running + 1))
done
wait || true
found=0
printf '%-16s %8s %12s %8s %8s %9s  %s\n' target cpu_s executions edges features corpus findings
for t in "${TARGETS[@]}"; do
  log="logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(find "corpus/$t" -type f | wc -l)
  n=$(find "artifacts/$t" -type f | wc -l)
  [ "$n" -gt 0 ] && found=1
  cpu=$(cat "logs/$t.cpu" 2>/dev/null || echo '?')
  printf '%-16s %8s %12s %8s %8s %9s  %s\n' "$t" "$cpu" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" \
    "$([ "$n" -gt 0 ] && ls "artifacts/$t" | tr '\n' ' ' || echo none)"
done
exit $found
