#!/usr/bin/env bash
# How far the engine's float32 scores move when only the BLAS underneath changes: every parity fixture
# (../shared/fixtures) scored on the CPU backend under each OpenBLAS build and kernel this CPU runs
# (the bundled one under OPENBLAS_CORETYPE=Haswell, Sandybridge, Nehalem, Prescott and, where the CPU has
# them, SkylakeX / Zen; the system libopenblas.so.0 when installed), and each score's relative distance
# from the reference's float64 value (scores_float64 of expected.json, *_float64 of zc-expected.json).
# The parity tests' per-case bounds (src/test/java/io/wrcor/proxy/OrderScatter.java) quote its output.
#
#   benchmarks/blas-scatter.sh [CASE...]        (default: every fixture; e.g. mbv2/small-sampled)
#
# Prints one line per (case, proxy): the reference's own float32 distance from float64, then the engine's
# distance under each configuration, and the largest of them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
shared="${WRCOR_SHARED:-$root/../shared}"
cd "$root"
bin/wrcor --version >/dev/null   # builds the jar when needed
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for d in "$shared"/fixtures/*/*/; do d=${d%/}; cases+=("${d#"$shared"/fixtures/}"); done
fi
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
configs=("bundled:Haswell" "bundled:Sandybridge" "bundled:Nehalem" "bundled:Prescott")
case "$flags" in *avx512f*) configs+=("bundled:SkylakeX");; esac
case "$(grep -m1 '^vendor_id' /proc/cpuinfo)" in *AuthenticAMD*) configs+=("bundled:Zen");; esac
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
  echo "note: this machine sets OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE; each configuration below overrides it for its own run" >&2
fi
ldconfig -p 2>/dev/null | grep -q 'libopenblas.so.0' && configs+=("system:")
proxies="wrcor,wrcor_relu_only,synflow,jacob_cor,snip,grad_norm,naswot,zico,swap,az_expressivity,az_progressivity,az_trainability,vkdnw_dim,meco"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for c in "${cases[@]}"; do
  for cfg in "${configs[@]}"; do
    blas=${cfg%%:*} core=${cfg#*:}
    space_proxies=$proxies
    case "$c" in nb201/*) space_proxies=${proxies%,meco};; esac
    OPENBLAS_CORETYPE="$core" WRCOR_BLAS="$blas" bin/wrcor score --weights "$shared/fixtures/$c" --proxies "$space_proxies" --quiet \
      > "$out/$(echo "$c" | tr / _)@$cfg.json" 2>"$out/err" || { echo "failed: $c under $cfg: $(cat "$out/err")" >&2; exit 1; }
  done
done
/usr/bin/env python3 - "$shared" "$root/src/test/resources/zc-expected.json" "$out" "${configs[*]}" "${cases[@]}" <<'EOF'
import json, math, os, sys
shared, zc_file, out, configs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split()
zc = json.load(open(zc_file))['cases']
def num(v):
    return {'nan': math.nan, 'inf': math.inf, '-inf': -math.inf}.get(v, v) if isinstance(v, str) else v
print('%-22s %-16s %9s  %s  %9s' % ('case', 'proxy', 'ref f32', '  '.join('%12s' % c for c in configs), 'largest'))
for case in sys.argv[5:]:
    e = json.load(open(os.path.join(shared, 'fixtures', case, 'expected.json')))
    want64 = dict(e.get('scores_float64', {}))
    want32 = dict(e['scores'])
    for k, v in zc.get(case, {}).items():
        if k.endswith('_float64'): want64[k[:-8]] = v
        elif isinstance(v, (int, float, str)): want32.setdefault(k, v)
    got = {}
    for cfg in configs:
        row = json.loads(open(os.path.join(out, case.replace('/', '_') + '@' + cfg + '.json')).read())
        got[cfg] = {k: num(v) for k, v in row['scores'].items()}
    for p in got[configs[0]]:
        if p not in want64: continue
        w64, w32 = num(want64[p]), num(want32.get(p, want64[p]))
        if not all(map(math.isfinite, [w64, w32])) or w64 == 0: continue
        rel = lambda x: abs(x - w64) / max(1.0, abs(w64)) if math.isfinite(x) else math.inf
        ds = [rel(got[c][p]) for c in configs]
        print('%-22s %-16s %9.2g  %s  %9.2g' % (case, p, rel(w32), '  '.join('%12.2g' % d for d in ds), max(ds)))
EOF
