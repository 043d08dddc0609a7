#!/usr/bin/env bash
# The engine against the published WRCor PyTorch code, side by side in one run, on the same
# architectures: per space, wrcor alone and the published vote set (synflow, jacob_cor, wrcor),
# batch 64, 2 threads, both warm (the engine: an untimed pass over the architectures first; the
# published code: each architecture run twice, the second timed). Prints each side's median and the
# ratios published / engine (median, min, max over the architectures).
#
#   NB201: 20 architectures (indices drawn with seed 0), C=16 N=5, CIFAR-10 batch (cifar10-train-0.bin)
#   NB101: 5 specs of the 500-table (rows drawn with seed 0), full size (stem 128, 3x3 cells), CIFAR-10 batch
#   mbv2:  5 candidates sampled by the engine (seed 0) at 224 x 224, 1000 classes, N(0,1) batch
#
# Usage: benchmarks/vs-pytorch.sh CODE_DIR [nb201] [nb101] [mbv2]   (default: all three)
#        ROUNDS=N (default 2): rounds per space, each timing the engine then the published code; an
#        architecture's time on each side is its fastest round
# CODE_DIR: the published repository (github.com/kunjing96/ZSNAS-WRCor), cloned or extracted
# anywhere outside this one (never committed here). PyTorch: apt-get install python3-torch
# (Debian's 1.13, oneDNN), for /usr/bin/python3. Takes about 15 minutes a round on a 2-core machine.
set -euo pipefail
rounds="${ROUNDS:-2}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
code="${1:?usage: vs-pytorch.sh CODE_DIR [nb201] [nb101] [mbv2]  (CODE_DIR: the published ZSNAS-WRCor code)}"
shift
spaces=("$@")
[ ${#spaces[@]} -eq 0 ] && spaces=(nb201 nb101 mbv2)
py=/usr/bin/python3
[ -f "$code/foresight/pruners/predictive.py" ] || { echo "vs-pytorch: $code is not the published code (no foresight/pruners/predictive.py)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "vs-pytorch: no PyTorch for $py (apt-get install python3-torch)" >&2; exit 2; }
shared="${WRCOR_SHARED:-$root/../shared}"
cifar="$shared/data/cifar10-train-0.bin"
[ -f "$cifar" ] || { echo "vs-pytorch: no $cifar" >&2; exit 2; }
sets='wrcor;synflow,jacob_cor,wrcor'
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "# $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# published code: $(cd "$code" && (git rev-parse --short HEAD 2>/dev/null || echo "extracted copy"))"

for space in "${spaces[@]}"; do
    archs="$work/$space.txt"
    data=()
    case "$space" in
    nb201)
        "$py" - "$shared/data/nb201-accuracy.csv" >"$archs" <<'EOF'
import csv, random, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for i in random.Random(0).sample(range(len(rows)), 20): print(rows[i]["ArchitectureString"])
EOF
        data=(--data "$cifar") ;;
    nb101)
        "$py" - "$shared/data/nb101-val-accuracy-500.csv" >"$archs" <<'EOF'
import csv, random, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for i in random.Random(0).sample(range(len(rows)), 5): print(rows[i]["pruned_matrix"] + " " + rows[i]["pruned_ops"])
EOF
        data=(--data "$cifar") ;;
    mbv2)
        "$root/bin/wrcor" score --space mbv2 --sample 5 --seed 0 --proxies params --quiet 2>/dev/null \
            | "$py" -c 'import json, sys
for l in sys.stdin: print(json.loads(l)["arch"].rsplit("@", 1)[0] + "@224")' >"$archs" ;;
    *) echo "vs-pytorch: unknown space '$space' (nb201, nb101 or mbv2)" >&2; exit 2 ;;
    esac
    echo "## $space: $(wc -l <"$archs") architectures"
    cifar_arg=()
    [ "$space" != mbv2 ] && cifar_arg=("$cifar")
    : >"$work/$space.engine"
    : >"$work/$space.published"
    # rounds of engine then published code; each architecture's time is its fastest round on each side
    # (the machine's speed drifts over minutes, so the sides take turns rather than one going first)
    for round in $(seq 1 "$rounds"); do
        echo "# round $round of $rounds"
        "$root/bin/wrcor" bench --space "$space" --arch-file "$archs" --batch 64 --threads 2 --seed 0 --sets "$sets" --per-arch "${data[@]}" \
            2>/dev/null | tee -a "$work/$space.engine"
        OMP_NUM_THREADS=2 "$py" "$root/benchmarks/published_timing.py" "$code" "$space" "$archs" 64 2 "$sets" "${cifar_arg[@]}" \
            2>"$work/$space.err" | tee -a "$work/$space.published" || { cat "$work/$space.err" >&2; exit 1; }
    done
    "$py" - "$work/$space.engine" "$work/$space.published" "$space" <<'EOF'
import statistics, sys
engine, published = {}, {}   # label -> per round, seconds in the architecture file's order (both sides keep it)
for l in open(sys.argv[1]):
    p = l.split()
    if l.startswith("backend "): [v.append([]) for v in engine.values()]
    if l.startswith("  ") and len(p) >= 4 and p[2] == "s":
        rounds = engine.setdefault(p[0], [[]])
        rounds[-1].append(float(p[1]))
for l in open(sys.argv[2]):
    if l.startswith("# PyTorch"): [v.append([]) for v in published.values()]
    if l.startswith("#"): continue
    label, s, arch = l.rstrip("\n").split("\t")
    published.setdefault(label, [[]])[-1].append(float(s))
def fastest(rounds):
    rounds = [r for r in rounds if r]
    if any(len(r) != len(rounds[0]) for r in rounds): sys.exit("vs-pytorch: rounds of different lengths")
    return [min(r[i] for r in rounds) for i in range(len(rounds[0]))], len(rounds)
for label, prounds in published.items():
    ps, _ = fastest(prounds)
    es, m = fastest(engine.get(label, [[]]))
    if len(es) != len(ps): sys.exit(f"vs-pytorch: {len(es)} engine times and {len(ps)} published times for {label}")
    keys = range(len(ps))
    r = [ps[k] / es[k] for k in keys]
    e = statistics.median(es); p = statistics.median(ps)
    print(f"RESULT {sys.argv[3]:6s} {label:26s} engine {e:8.3f} s  published {p:8.3f} s  ratio median {statistics.median(r):5.2f}x"
          f"  (min {min(r):.2f}x, max {max(r):.2f}x, {len(r)} archs, fastest of {m} rounds each)")
EOF
done
