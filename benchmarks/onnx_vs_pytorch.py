#!/usr/bin/python3
"""The engine against PyTorch on the CPU, in one run, for torchvision networks read from ONNX:

    /usr/bin/python3 benchmarks/onnx_vs_pytorch.py [--res 224] [--batch 64] [--threads 2] [--repeat 3] [MODEL ...]

For each model (default resnet18 and mobilenet_v2, 10 classes): export to ONNX (opset 13, training
mode), then time `bin/wrcor bench --onnx` (its own warm-up, then --repeat runs per set) and, in this
process, PyTorch computing the same proxies on the same network (torch.set_num_threads(--threads), one
untimed warm-up, then --repeat runs; medians). The sets: wrcor alone, and the published vote's
members (synflow, jacob_cor, wrcor). PyTorch's side is a lean implementation of the definitions the
engine states for ONNX graphs (docs/ONNX.md): hooks on the nn.ReLU / nn.ReLU6 modules for wrcor's
responses and their gradients (one forward and backward of the mean cross-entropy), the Pearson
correlations and log|det K| in float64; jacob_cor from one more forward and backward of the summed
logits; synflow on a BN-free float64 copy with |params| and one all-ones sample. Needs python3-torch
and python3-torchvision. Run from the repository root.
"""
import argparse
import copy
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn as nn
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torchvision import synflow  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--res", type=int, default=224)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("models", nargs="*", default=["resnet18", "mobilenet_v2"])
args = ap.parse_args()
torch.set_num_threads(args.threads)


def corr_abs(m):
    m = m.reshape(m.shape[0], -1).double()
    r = torch.corrcoef(m)
    if torch.isnan(r).any():
        return None
    return r.clamp(-1, 1).abs()


def wrcor_k(net, x, y):
    """K accumulated inside the hooks, as the published code does (no response is kept past its hook)."""
    b = x.shape[0]
    k = torch.zeros(b, b, dtype=torch.float64)
    state = {"n": 0}

    def add(t, i):
        r = corr_abs(t)
        if r is not None:
            k.add_(r, alpha=2.0 ** i)

    def fwd(module, inp, out):
        i = state["n"]
        state["n"] += 1
        add(out.detach(), i)
        out.register_hook(lambda g, o=out, i=i: add((g * (o > 0)).detach(), i))

    hooks = [m.register_forward_hook(fwd) for m in net.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    net.zero_grad()
    nn.functional.cross_entropy(net(x), y).backward()
    for h in hooks:
        h.remove()
    return torch.linalg.slogdet(k)[1].item()


def jacob_cor(net, x):
    xi = x.clone().requires_grad_(True)
    net.zero_grad()
    net(xi).sum().backward()
    r = torch.corrcoef(xi.grad.reshape(x.shape[0], -1).double())
    v = torch.linalg.eigvalsh(r)
    return -(torch.log(v + 1e-5) + 1.0 / (v + 1e-5)).sum().item()


def torch_set(net, x, y, members):
    out = {}
    if "synflow" in members:
        out["synflow"] = synflow(net, x.shape[1:])
    if "jacob_cor" in members:
        out["jacob_cor"] = jacob_cor(net, x)
    if "wrcor" in members:
        out["wrcor"] = wrcor_k(net, x, y)
    return out


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


sets = ["wrcor", "synflow,jacob_cor,wrcor"]
print(f"# {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__} ({args.threads} threads), torchvision {torchvision.__version__};"
      f" {args.res} x {args.res}, batch {args.batch}, {args.repeat} timed runs each after a warm-up; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
print("| model | set | engine median s | PyTorch median s | engine speed-up |")
print("| --- | --- | --- | --- | --- |")
with tempfile.TemporaryDirectory() as tmp:
    for name in args.models:
        torch.manual_seed(0)
        net = getattr(torchvision.models, name)(num_classes=10).train()
        for m in net.modules():
            if isinstance(m, nn.Dropout):
                m.eval()  # the identity, as the engine reads Dropout
        path = os.path.join(tmp, name + ".onnx")
        torch.onnx.export(net, torch.randn(2, 3, args.res, args.res), path, opset_version=13, training=torch.onnx.TrainingMode.TRAINING,
                          do_constant_folding=False, input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        r = subprocess.run(["bash", "bin/wrcor", "bench", "--onnx", path, "--batch", str(args.batch), "--threads", str(args.threads),
                            "--repeat", str(args.repeat), "--sets", ";".join(sets)], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"| {name} | | engine failed: {r.stderr.strip().splitlines()[-1]} | | |")
            continue
        engine = {}
        for line in r.stdout.splitlines():
            m = re.match(r"^(\S+)\s+median ([0-9.]+) s", line)
            if m:
                engine[m.group(1)] = float(m.group(2))
        g = torch.Generator().manual_seed(1)
        x = torch.randn(args.batch, 3, args.res, args.res, generator=g)
        y = torch.randint(0, 10, (args.batch,), generator=g)
        for s in sets:
            members = s.split(",")
            torch_set(net, x, y, members)  # warm-up
            secs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                torch_set(net, x, y, members)
                secs.append(time.perf_counter() - t0)
            pt = statistics.median(secs)
            e = engine.get(s)
            print(f"| {name} | {s} | {e:.3f} | {pt:.3f} | {pt / e:.2f}x |" if e else f"| {name} | {s} | ? | {pt:.3f} | |")
