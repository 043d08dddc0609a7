#!/usr/bin/python3
"""Times the published WRCor PyTorch code on a list of architectures, for benchmarks/vs-pytorch.sh.

Usage: published_timing.py CODE_DIR SPACE ARCH_FILE BATCH THREADS SETS [CIFAR_FILE]

CODE_DIR is an extracted copy of the published repository (kunjing96/ZSNAS-WRCor; never part of
this one). SPACE is nb201, nb101 or mbv2; ARCH_FILE has one architecture per line in the engine's
canonical form (NB101: 'rows;...' a space 'ops;...', already pruned; mbv2: 'STRUCTURE@RES').
SETS are proxy sets separated by ';' in the engine's names (wrcor, synflow, jacob_cor, ...).

For every set and architecture the published path runs twice, as search.py's eval_arch runs it:
build the network, init_net(net, 'none', 'none'), predictive.find_measures on one batch. The first
run is the warm-up, the second is timed. Prints one line per (set, architecture) and a median per set:
    set<TAB>seconds<TAB>arch
"""
import statistics
import sys
import time
import types

import numpy as np
import torch

code, space, arch_file, batch, threads, sets = sys.argv[1:7]
cifar = sys.argv[7] if len(sys.argv) > 7 else None
batch, threads = int(batch), int(threads)
sys.path.insert(0, code)
torch.set_num_threads(threads)

from foresight.models import get_nasbench101_model, get_nasbench201_model, get_MobileNetV2_model  # noqa: E402
from foresight.pruners import predictive  # noqa: E402
from foresight.weight_initializers import init_net  # noqa: E402

# the engine's proxy names -> the published measure names
NAMES = {"wrcor": "act_grad_cor_weighted", "synflow": "synflow", "jacob_cor": "jacob_cor",
         "grad_cor": "grad_cor", "act_cor": "act_cor", "act_grad_cor": "act_grad_cor", "snip": "snip", "grad_norm": "grad_norm"}

archs = [l.strip() for l in open(arch_file) if l.strip() and not l.startswith("#")]


def cifar_batch(path, n):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)[:n]
    x = raw[:, 1:].reshape(n, 3, 32, 32).astype(np.float32) / 255.0
    mean = np.array([125.3, 123.0, 113.9], np.float32).reshape(1, 3, 1, 1) / 255.0
    std = np.array([63.0, 62.1, 66.7], np.float32).reshape(1, 3, 1, 1) / 255.0
    return torch.from_numpy((x - mean) / std), torch.from_numpy(raw[:, 0].astype(np.int64))


torch.manual_seed(0)
if space == "mbv2":
    classes = 1000
    x, y = torch.randn(batch, 3, 224, 224), torch.randint(0, classes, (batch,))
else:
    classes = 10
    if cifar:
        x, y = cifar_batch(cifar, batch)
    else:
        x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, classes, (batch,))
loader = [(x, y)]


def build(arch):
    if space == "nb201":
        return get_nasbench201_model({"name": "infer.tiny", "C": 16, "N": 5, "arch_str": arch, "num_classes": classes})
    if space == "nb101":
        rows, ops = arch.split(" ")
        matrix = np.array([[int(c) for c in r] for r in rows.split(";")])
        spec = types.SimpleNamespace(matrix=matrix, ops=ops.split(";"))
        return get_nasbench101_model(spec, num_classes=classes)
    struct, res = arch.rsplit("@", 1)
    return get_MobileNetV2_model(struct, num_classes=classes, input_resolution=int(res))


def once(arch, measures):
    t0 = time.perf_counter()
    net = build(arch)
    init_net(net, "none", "none")
    predictive.find_measures(net, loader, ("random", 1, classes), torch.device("cpu"), measure_names=measures)
    return time.perf_counter() - t0


print(f"# PyTorch {torch.__version__}, {torch.get_num_threads()} threads, {torch.backends.mkldnn.is_available() and 'oneDNN' or 'no oneDNN'},"
      f" batch {batch}, {space}, {len(archs)} architectures", flush=True)
for label in sets.split(";"):
    unknown = [p for p in label.split(",") if p not in NAMES]
    if unknown: sys.exit(f"published_timing: the published code has no measure for {unknown[0]} (known: {', '.join(NAMES)})")
    measures = list(dict.fromkeys(NAMES[p] for p in label.split(",")))
    secs = []
    for arch in archs:
        once(arch, measures)
        s = once(arch, measures)
        secs.append(s)
        print(f"{label}\t{s:.4f}\t{arch}", flush=True)
    print(f"# {label} median {statistics.median(secs):.4f} s/arch", flush=True)
