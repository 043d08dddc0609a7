"""Chooses a proxy ensemble on one sample of NAS-Bench-201 architectures and reports it on a disjoint one.

    bin/wrcor score --sample 1300 --seed 0 --out study/scores.jsonl          # every proxy, weights seed 0
    python3 benchmarks/ensemble_study.py --scores study/scores.jsonl --split-seed 1 --out study

The scored architectures are shuffled with --split-seed and cut in two: the first part ("choose",
all but the last --report archs) picks the ensemble, the second ("report", --report archs, 650 by
default) only reports it. Every subset of the proxies (up to --max-members) under each rule
(soft-z, soft-rank, log-rank; the same definitions as io.wrcor.vote.Vote) is ranked by its Spearman
rho with CIFAR-10 test accuracy on the choose part; the best few are shown on both parts, with the
three datasets, and the two parts are written as architecture files (choose.txt, report.txt) for
`bin/wrcor correlate --arch-file` to reproduce the figures with the engine itself. Standard library only.
"""
import argparse
import csv
import itertools
import json
import math
import os
import random


def ranks(v):
    """Average ranks (1 = lowest); NaN stays NaN."""
    idx = [i for i, x in enumerate(v) if not math.isnan(x)]
    idx.sort(key=lambda i: v[i])
    out = [math.nan] * len(v)
    i = 0
    while i < len(idx):
        j = i
        while j + 1 < len(idx) and v[idx[j + 1]] == v[idx[i]]:
            j += 1
        r = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[idx[k]] = r
        i = j + 1
    return out


def spearman(x, y):
    keep = [i for i in range(len(x)) if not math.isnan(x[i]) and not math.isnan(y[i])]
    if len(keep) < 3:
        return math.nan
    rx, ry = ranks([x[i] for i in keep]), ranks([y[i] for i in keep])
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def zscores(v):
    fin = [x for x in v if math.isfinite(x)]
    if not fin:
        return v
    m = sum(fin) / len(fin)
    sd = math.sqrt(sum((x - m) ** 2 for x in fin) / len(fin)) if len(fin) > 1 else 1.0
    sd = sd or 1.0
    return [(x - m) / sd if math.isfinite(x) else x for x in v]


def combine(rule, cols):
    n, m = len(cols[0]), len(cols)
    out = [0.0] * n
    for col in cols:
        t = zscores(col) if rule == "soft-z" else ranks(col)
        for i in range(n):
            out[i] += math.log(t[i] / n) if rule == "log-rank" else t[i] / m
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scores", required=True, help="a results file (JSON lines) of NAS-Bench-201 architectures with every proxy")
    p.add_argument("--gt", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "nb201-accuracy.csv"))
    p.add_argument("--split-seed", type=int, default=1)
    p.add_argument("--report", type=int, default=650, help="architectures in the report part")
    p.add_argument("--max-members", type=int, default=5)
    p.add_argument("--exclude", default="wrcor_relu_only,act_grad_cor", help="proxies left out of the candidates")
    p.add_argument("--out", default=None, help="folder for choose.txt, report.txt and study.json")
    a = p.parse_args()

    acc = {}
    with open(a.gt) as f:
        for row in csv.DictReader(f):
            acc[row["ArchitectureString"]] = [float(row["CIFAR10TestAccuracy200Epochs"]), float(row["CIFAR100TestAccuracy200Epochs"]),
                                              float(row["ImageNetTestAccuracy200Epochs"])]
    rows, runs = {}, {}
    with open(a.scores) as f:
        for line in f:
            r = json.loads(line)
            runs[r["run"]] = runs.get(r["run"], 0) + 1
            rows.setdefault((r["run"], r["arch"]), {}).update(r["scores"])
    run = max(runs, key=runs.get)
    scores = {arch: s for (rk, arch), s in rows.items() if rk == run}
    proxies = [k for k in next(iter(scores.values())) if k not in a.exclude.split(",")]
    archs = sorted(arch for arch, s in scores.items() if all(k in s for k in proxies) and arch in acc)
    if len(archs) < a.report + 50:
        raise SystemExit("%d complete architectures; need more than --report %d + 50" % (len(archs), a.report))
    random.Random(a.split_seed).shuffle(archs)
    choose, report = archs[:-a.report], archs[-a.report:]

    def value(x):
        return float(x) if not isinstance(x, str) else {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[x]

    def cols(part, members):
        return [[value(scores[arch][m]) for arch in part] for m in members]

    def evaluate(part, members, rule, dataset=0):
        return spearman(combine(rule, cols(part, members)), [acc[arch][dataset] for arch in part])

    results = []
    for k in range(1, a.max_members + 1):
        for members in itertools.combinations(proxies, k):
            for rule in (("soft-z", "soft-rank", "log-rank") if k > 1 else ("soft-rank",)):
                results.append((evaluate(choose, members, rule), members, rule))
    results.sort(key=lambda t: -t[0] if not math.isnan(t[0]) else math.inf)
    print("run: %s\n%d architectures: choose %d, report %d (split seed %d)\n" % (run, len(archs), len(choose), len(report), a.split_seed))
    def picks(part, members, rule, draws=200, size=100):
        """CIFAR-10 accuracy of the ensemble's best in random subsets of the part (a random search of `size`), mean over draws."""
        combined = combine(rule, cols(part, members))
        rnd = random.Random(0)
        total = 0.0
        for _ in range(draws):
            idx = rnd.sample(range(len(part)), size)
            best = max(idx, key=lambda i: combined[i] if not math.isnan(combined[i]) else -math.inf)
            total += acc[part[best]][0]
        return total / draws

    print("%-52s %9s   %-25s %s" % ("ensemble", "choose c10", "report: c10 / c100 / in16", "report: best of 100 (c10 %)"))
    shown = results[:15] + [r for r in results if len(r[1]) == 1]
    for rho, members, rule in shown:
        rep = [evaluate(report, members, rule, d) for d in range(3)]
        print("%-52s %9.3f   %.3f / %.3f / %.3f     %.2f" % (",".join(members) + "@" + rule, rho, *rep, picks(report, members, rule)))
    rnd0 = random.Random(0)
    print("%-52s %9s   %-25s %.2f" % ("(the true best of 100, for scale)", "", "", sum(max(acc[report[i]][0] for i in rnd0.sample(range(len(report)), 100))
                                                                                    for _ in range(200)) / 200))
    best = results[0]
    summary = {"run": run, "split_seed": a.split_seed, "choose": len(choose), "report": len(report),
               "best": ",".join(best[1]) + "@" + best[2], "choose_spearman_c10": best[0],
               "report_spearman": [evaluate(report, best[1], best[2], d) for d in range(3)]}
    print("\nchosen: %s" % summary["best"])
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        for name, part in (("choose.txt", choose), ("report.txt", report)):
            with open(os.path.join(a.out, name), "w") as f:
                f.write("\n".join(part) + "\n")
        with open(os.path.join(a.out, "study.json"), "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
