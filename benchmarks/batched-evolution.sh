#!/usr/bin/env bash
# Batched regularised evolution (K children per round) against the published one (K = 1) on
# NAS-Bench-201, CIFAR-10 batch of 64 (cifar10-train-0.bin, seed 0), the default objective
# (recommended: grad_cor and meco by calibrated z-score), 1000 evaluations per search:
#
#   benchmarks/batched-evolution.sh quality STORE   10 searches each (search seeds 0..9, side by side: --runs 10) with
#                                                   K = 1 and K = 8, for the recommended objective and the published
#                                                   vote (synflow, jacob_cor, wrcor), scores read from STORE, a results store of the
#                                                   whole table with these settings (part 7 of issue 27); prints the
#                                                   found CIFAR-10 / CIFAR-100 / ImageNet16-120 accuracy, mean +- std
#   benchmarks/batched-evolution.sh time            one search each, nothing stored beforehand, timed: K = 1 on one
#                                                   lane of 2 threads (the published loop) and K = 8 on 2 lanes of
#                                                   1 thread (--in-flight 2); prints wall seconds and the speed-up
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${WRCOR_SHARED:-$root/../shared}"
data="$shared/data/cifar10-train-0.bin"
common=(search --space nb201 --algo evolution --data "$data" --batch 64 --seed 0 --quiet)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "# $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
case "${1:-}" in
  quality)
    store="${2:?quality needs the results store of the whole NAS-Bench-201 table}"
    for objective in recommended published; do
    for k in 1 8; do
      t0=$(date +%s.%N)
      bash "$root/bin/wrcor" "${common[@]}" --objective "$objective" --runs 10 --children "$k" --out "$store" --run-dir "$work/q$objective$k" \
        >"$work/q$k.out" 2>"$work/q$k.err"
      t1=$(date +%s.%N)
      echo "$objective, K = $k: $(grep '^over 10 runs' "$work/q$k.out")  ($(python3 -c "print(f'{$t1 - $t0:.1f}')") s, scores from the store)"
      python3 - "$work/q$objective$k/summary.json" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))["runs"]
acc = [r.get("accuracy", {}) for r in runs]
first = next(iter(acc[0])) if acc and acc[0] else None
print(f"  found, run by run ({first}):", " ".join(f"{a[first]:.2f}" if first in a else "?" for a in acc))
PY
    done
    done
    ;;
  time)
    t0=$(date +%s.%N)
    bash "$root/bin/wrcor" "${common[@]}" --children 1 --threads 2 --run-dir "$work/t1" >"$work/t1.out" 2>"$work/t1.err"
    t1=$(date +%s.%N)
    bash "$root/bin/wrcor" "${common[@]}" --children 8 --in-flight 2 --threads 1 --run-dir "$work/t8" >"$work/t8.out" 2>"$work/t8.err"
    t2=$(date +%s.%N)
    python3 - "$t0" "$t1" "$t2" "$work" <<'PY'
import json, sys
t0, t1, t2, w = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
for k, secs in ((1, t1 - t0), (8, t2 - t1)):
    run = json.load(open(f"{w}/t{k}/summary.json"))["runs"][0]
    print(f"K = {k}: {secs:7.1f} s wall, {run['distinct']} distinct architectures scored, found {run['found']}")
print(f"speed-up of K = 8 on 2 lanes over K = 1 on one 2-thread lane: {(t1 - t0) / (t2 - t1):.2f}x")
PY
    ;;
  *) echo "usage: benchmarks/batched-evolution.sh quality STORE | time" >&2; exit 2 ;;
esac
