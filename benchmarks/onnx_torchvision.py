#!/usr/bin/python3
"""torchvision models as a new user would bring them: exported to ONNX (opset 13, training mode, dynamic
batch), scored by `bin/wrcor score --onnx`, and checked against PyTorch's own parameter count and synflow
(BN removed, |params|, float64, one all-ones sample, dropout as the identity). None of these models is
among the parity fixtures. A model whose ops the reader does not take yet prints the engine's one-line
refusal instead.

    /usr/bin/python3 benchmarks/onnx_torchvision.py [RESOLUTION] [MODEL ...]

Needs python3-torch and python3-torchvision (Debian). Run from the repository root.
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
import torchvision

MODELS = ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2", "inception_v3", "regnet_x_400mf", "regnet_y_400mf", "densenet121", "mnasnet0_5", "googlenet", "mobilenet_v2",
          "mobilenet_v3_small", "shufflenet_v2_x0_5", "efficientnet_b0", "squeezenet1_0",
          "squeezenet1_1", "vgg11_bn"]


def synflow(net, shape):
    """PyTorch's synflow of a network on one all-ones sample of `shape` (C, H, W): BN removed, |params|, float64."""
    s = copy.deepcopy(net).double()

    def strip(m):
        for cn, c in list(m.named_children()):
            if isinstance(c, nn.BatchNorm2d):
                setattr(m, cn, nn.Identity())
            else:
                strip(c)

    strip(s)
    s.eval()  # BN is gone; eval() only makes dropout the identity, as the engine reads it
    with torch.no_grad():
        for p in s.parameters():
            p.abs_()
    out = s(torch.ones((1,) + tuple(shape), dtype=torch.float64))
    if not torch.is_tensor(out):
        out = out[0]
    out.sum().backward()
    return sum((m.weight * m.weight.grad).abs().sum().item() for m in s.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


def main():
    res = int(sys.argv[1]) if len(sys.argv) > 1 else 64
    models = sys.argv[2:] or MODELS
    print(f"# torch {torch.__version__}, torchvision {torchvision.__version__}, {res} x {res}, batch 8, CPU backend")
    print("| model | params (PyTorch) | params (wrcor) | synflow (PyTorch) | synflow (wrcor) | rel. diff |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            torch.manual_seed(0)
            kwargs = {"num_classes": 10}
            if name in ("googlenet", "inception_v3"):
                kwargs.update(aux_logits=False, init_weights=True)
            net = getattr(torchvision.models, name)(**kwargs).train()
            for m in list(net.modules()):  # stochastic depth as the identity, as dropout is (nothing is trained); the exporter
                for cn, c in list(m.named_children()):  # puts every module in training mode, where it would draw Bernoulli masks
                    if type(c).__name__ == "StochasticDepth":
                        setattr(m, cn, nn.Identity())
            path = os.path.join(tmp, name + ".onnx")
            params = sum(p.numel() for p in net.parameters())
            try:
                torch.onnx.export(net, torch.randn(2, 3, res, res), path, opset_version=13, training=torch.onnx.TrainingMode.TRAINING,
                                  do_constant_folding=False, input_names=["input"], output_names=["logits"],
                                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
            except Exception as e:  # noqa: BLE001 - PyTorch's exporter, not the engine
                print(f"| {name} | {params} | PyTorch's exporter failed (training mode): {str(e).splitlines()[0][:80]} | | | |")
                continue
            syn = synflow(net, (3, res, res))
            r = subprocess.run(["bash", "bin/wrcor", "score", "--onnx", path, "--batch", "8", "--proxies", "params,synflow", "--quiet"],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print(f"| {name} | {params} | refused: `{r.stderr.strip().splitlines()[-1][len('wrcor: error: '):]}` | | | |")
                continue
            row = json.loads(r.stdout.strip().splitlines()[-1])["scores"]
            diff = abs(row["synflow"] - syn) / abs(syn)
            print(f"| {name} | {params} | {int(row['params'])} | {syn:.10g} | {row['synflow']:.10g} | {diff:.1e} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
