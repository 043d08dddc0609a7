#!/usr/bin/python3
"""Writes the ONNX parity fixtures under src/test/resources/onnx/ (run from the repository root):

    /usr/bin/python3 src/test/python/onnx_fixtures.py [CASE ...]

Needs PyTorch (Debian's python3-torch; torchvision only for the torchvision cases, skipped without it).
For each case: a network with seeded weights, exported with torch.onnx.export (opset 13, training mode,
no constant folding: BatchNormalization stays a node), a seeded N(0,1) input batch and labels, and the
proxies computed here in PyTorch on the same weights and batch, in float32 and in float64, by the
definitions the engine states for ONNX graphs (docs/ONNX.md):

- response sites: the nn.ReLU, nn.ReLU6 and nn.LeakyReLU modules in the order they run; site i reads the module's
  output y and the gradient that passes it (dL/dy * 1[y > 0]; ReLU6: 1[0 < y < 6]; LeakyReLU: 1 or its slope) of the mean
  cross-entropy, with weight 2^i;
- wrcor: K = sum_i 2^i (|R(y_i)| + |R(g_i)|) with R the samples' Pearson correlation (float64, clipped
  to [-1, 1]; a response with a NaN correlation is skipped); score log|det K|;
- act_cor / grad_cor / act_grad_cor: the same with weight 1, activations / gradients / both;
- naswot: K = sum_i c c^T + (1-c)(1-c)^T over the sites' binary codes c = 1[y > 0]; log|det K|;
- jacob_cor: R of the per-sample gradients of the summed logits with respect to the input; eigenvalues
  v; -sum(log(v + 1e-5) + 1 / (v + 1e-5));
- synflow: every BatchNorm2d replaced by the identity, |p| for every parameter, float64, one all-ones
  sample; L = sum of the logits; sum over conv and linear weights of |w * dL/dw|;
- snip: sum over conv and linear weights of |w * dL/dw| (mean cross-entropy, training-mode BN);
- grad_norm: sum over conv and linear weights of ||dL/dw||_F;
- params: PyTorch's parameter count; flops: multiply-accumulates of the convs and linear layers, one sample;
- meco: per node output of the exported graph (evaluated node by node by run_onnx, itself checked against
  the network's logits) that is a map with more than one channel, the smallest eigenvalue of the correlation
  of its channels over the positions of the batch's first image (run alone through the graph unless a BN
  normalises 1 x 1 maps), NaN entries zeroed, summed;
- swap: the number of distinct sign patterns over the samples of the neurons of the sites' map outputs;
- zico: per conv and linear weight, the gradients of the mean cross-entropy of each half of the batch
  (training-mode BN over that half); sum over layers of log(sum over weights with a non-zero std of
  mean|g| / std(g)) (layers whose sum is 0 add nothing).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn

OUT = "src/test/resources/onnx"
ONLY = set(sys.argv[1:])  # case names to write (default: every case)


class SE(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(c, r, 1)
        self.relu = nn.ReLU()
        self.expand = nn.Conv2d(r, c, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        return x * self.gate(self.expand(self.relu(self.reduce(self.pool(x)))))


class SmallMixed(nn.Module):
    """Concat of a depthwise and a 1x1 branch, SE, a strided conv with bias, a residual add, max and
    average pooling, global pooling, a linear classifier."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.se = SE(12, 4)
        self.down = nn.Sequential(nn.Conv2d(12, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.res = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16))
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(2)
        self.avgpool = nn.AvgPool2d(3, stride=1, padding=1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.dw(x), self.branch(x)], 1)
        x = self.se(x)
        x = self.down(x)
        x = self.relu(x + self.res(x))
        x = self.avgpool(self.maxpool(x))
        return self.fc(torch.flatten(self.gap(x), 1))


class SmallSiLU(nn.Module):
    """SiLU (exported as Sigmoid and an elementwise Mul) between convs, an SE gate, one ReLU (the one response site)."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.c2 = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.SiLU())
        self.se = SE(8, 4)
        self.c3 = nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.gap(self.c3(self.se(self.c2(self.c1(x))))), 1))


class SmallHard(nn.Module):
    """MobileNetV3's activations: Hardswish (HardSigmoid and Mul at opset 13), an SE with a Hardsigmoid gate, LeakyReLU sites."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.Hardswish())
        self.c2 = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.LeakyReLU(0.1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.r = nn.Conv2d(8, 4, 1)
        self.act = nn.LeakyReLU(0.2)
        self.e = nn.Conv2d(4, 8, 1)
        self.gate = nn.Hardsigmoid()
        self.c3 = nn.Sequential(nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU())
        self.fc = nn.Linear(12, classes)

    def forward(self, x):
        x = self.c2(self.c1(x))
        x = x * self.gate(self.e(self.act(self.r(self.pool(x)))))
        return self.fc(torch.flatten(self.pool(self.c3(x)), 1))


class Basic(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x):
        y = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(y + (x if self.short is None else self.short(x)))


class TinyResNet(nn.Module):
    """A ResNet in miniature: a 5x5 stride-2 stem, max pool, two basic blocks (one downsampling)."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        self.b1 = Basic(8, 8, 1)
        self.b2 = Basic(8, 16, 2)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.gap(self.b2(self.b1(self.stem(x)))), 1))


class MatLinear(nn.Module):
    """x @ w + b with parameters of its own: exported as MatMul and Add (not Gemm)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cin, cout) / cin ** 0.5)
        self.bias = nn.Parameter(torch.randn(cout) * 0.1)

    def forward(self, x):
        return x @ self.weight + self.bias


class SmallGrouped(nn.Module):
    """Grouped convolutions (4 groups; a depthwise one with 2 filters per channel), a ceil-mode max pool,
    channel Split and Slice, a bilinear upsampling, a constant factor, a flattened 2x2 map, a MatMul."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.grouped = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        self.a = nn.Sequential(nn.Conv2d(8, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.mult = nn.Sequential(nn.Conv2d(12, 24, 3, stride=2, padding=1, groups=12), nn.BatchNorm2d(24), nn.ReLU())
        self.down = nn.Sequential(nn.Conv2d(24, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.fc = nn.Linear(8 * 2 * 2, 16)
        self.relu = nn.ReLU()
        self.head = MatLinear(16, classes)

    def forward(self, x):
        x = self.grouped(self.pool(self.stem(x)))            # 16x16 -> 8x8 (ceil mode), 32 channels
        a, b = torch.split(x, [8, 24], dim=1)
        x = torch.cat([self.a(a), b[:, 4:16]], 1)            # 8 + 12 channels
        x = self.mult(x[:, 4:16])                            # 12 -> 24 channels, 4x4
        x = nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False) * 0.5  # 8x8
        x = self.down(self.down_pool(x))                     # 4x4 -> 2x2
        return self.head(self.relu(self.fc(torch.flatten(x, 1))))

    def down_pool(self, x):
        return nn.functional.max_pool2d(x, 2)


class SmallDilated(nn.Module):
    """Dilated convolutions (a dense one and a depthwise one), Inception's 1x5 and 5x1 kernels, a
    TensorFlow-SAME-like stride-2 convolution after an uneven zero padding (Pad folded into the Conv),
    nearest upsampling by a factor and to a size."""

    def __init__(self, classes=10):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=2, dilation=2, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.row = nn.Sequential(nn.Conv2d(8, 8, (1, 5), padding=(0, 2), bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.col = nn.Sequential(nn.Conv2d(8, 8, (5, 1), padding=(2, 0)), nn.BatchNorm2d(8), nn.ReLU())
        self.same = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(8, 16, 3, stride=2, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=16, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.wide = nn.Sequential(nn.Conv2d(16, 16, (3, 1), padding=(2, 0), dilation=(2, 1), groups=4, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        x = self.c1(x)
        x = self.col(self.row(x)) + x
        x = self.wide(self.dw(self.same(x)))
        x = nn.functional.interpolate(x, scale_factor=2, mode="nearest")  # 8x8 -> 16x16
        x = x + nn.functional.interpolate(nn.functional.avg_pool2d(x, 2), size=(16, 16), mode="nearest")
        return self.fc(torch.flatten(self.gap(x), 1))


def splitmix(seed, n):
    """n values in [0, 1): splitmix64 of seed + 1 .. seed + n, top 53 bits (the test's SyntheticWeights, in Java)."""
    with np.errstate(over="ignore"):
        z = (np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def fnv(name):
    h = 0xCBF29CE484222325
    for ch in name.encode():
        h = ((h ^ ch) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def synthetic(name, shape):
    """A tensor's values from its name alone: uniform(-1, 1) / sqrt(fan_in) for weights of 2 or more
    dimensions, 1 + (u - 0.5) / 5 for a BatchNorm's scale or running variance, (u - 0.5) / 5 else."""
    n = int(np.prod(shape))
    u = splitmix(fnv(name), n)
    if len(shape) >= 2:
        v = (2 * u - 1) / np.sqrt(np.prod(shape[1:]))
    elif name.endswith(".weight") or name.endswith(".running_var"):
        v = 1 + (u - 0.5) / 5
    else:
        v = (u - 0.5) / 5
    return v.astype(np.float32).reshape(shape)


def with_synthetic_weights(net):
    """net with every float parameter and buffer set to synthetic(its name, its shape)."""
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + list(net.named_buffers()):
            if t.dtype == torch.float32:
                t.copy_(torch.from_numpy(synthetic(name, tuple(t.shape))))
    return net


def corr(m):
    """Pearson correlation of the rows (samples), float64, clipped; None when it has a NaN."""
    m = m.reshape(m.shape[0], -1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.corrcoef(m)
    if np.isnan(r).any():
        return None
    return np.clip(r, -1, 1)


def logdet(k):
    sign, ld = np.linalg.slogdet(k)
    return float(ld) if sign != 0 else float("-inf")


def convs_and_linears(net):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear, MatLinear))]


def no_dropout(net):
    """Dropout as the identity (as the engine reads it; nothing is trained); BN stays in training mode."""
    for m in net.modules():
        if isinstance(m, nn.Dropout):
            m.eval()
    return net


def proxies(net, x, y, dtype):
    net = no_dropout(net.to(dtype).train())
    x = x.to(dtype)
    b = x.shape[0]
    out = {}
    # the ReLU sites: outputs, and the gradients at their outputs masked by y > 0
    acts, grads = [], {}

    def fwd(module, inp, outp):
        i = len(acts)
        acts.append(outp.detach().clone())
        if isinstance(module, nn.LeakyReLU):  # the gradient that passes it: slope 1 where y > 0, negative_slope elsewhere
            mask = lambda o, s=module.negative_slope: torch.where(o > 0, torch.ones_like(o), torch.full_like(o, s))  # noqa: E731
        elif isinstance(module, nn.ReLU6):  # passes where 0 < y < 6
            mask = lambda o: ((o > 0) & (o < 6)).to(o.dtype)  # noqa: E731
        else:
            mask = lambda o: (o > 0).to(o.dtype)  # noqa: E731
        outp.register_hook(lambda g, o=outp, i=i, mask=mask: grads.__setitem__(i, (g * mask(o)).detach().clone()))

    patterns = []  # swap: each neuron's signs over the samples, for the sites with map outputs

    def signs(module, inp, outp):
        if outp.dim() == 4:
            patterns.append((outp.detach() > 0).reshape(b, -1).t().cpu().numpy())

    hooks = [m.register_forward_hook(fwd) for m in net.modules() if isinstance(m, (nn.ReLU, nn.ReLU6, nn.LeakyReLU))]
    hooks += [m.register_forward_hook(signs) for m in net.modules() if isinstance(m, (nn.ReLU, nn.ReLU6, nn.LeakyReLU))]
    net.zero_grad()
    logits = net(x)
    loss = nn.functional.cross_entropy(logits, y)
    loss.backward()
    for h in hooks:
        h.remove()
    n = len(acts)
    assert len(grads) == n
    grads = [grads[i] for i in range(n)]
    ra = [corr(a.cpu().numpy()) for a in acts]
    rg = [corr(g.cpu().numpy()) for g in grads]
    for name, use_a, use_g, weighted in (("wrcor", True, True, True), ("act_cor", True, False, False), ("grad_cor", False, True, False),
                                        ("act_grad_cor", True, True, False)):
        k = np.zeros((b, b))
        for i in range(n):
            w = 2.0 ** i if weighted else 1.0
            if use_a and ra[i] is not None:
                k += w * np.abs(ra[i])
            if use_g and rg[i] is not None:
                k += w * np.abs(rg[i])
        out[name] = logdet(k)
    k = np.zeros((b, b))
    for a in acts:
        c = (a.reshape(b, -1) > 0).to(torch.float64).cpu().numpy()
        k += c @ c.T + (1 - c) @ (1 - c).T
    out["naswot"] = logdet(k)
    # snip and grad_norm: the mean cross-entropy's weight gradients (from the pass above)
    layers = convs_and_linears(net)
    out["snip"] = float(sum((m.weight.grad * m.weight).abs().sum().item() for m in layers))
    out["grad_norm"] = float(sum(m.weight.grad.norm().item() for m in layers))
    # jacob_cor: the summed logits' gradient with respect to the input
    xi = x.clone().requires_grad_(True)
    net.zero_grad()
    net(xi).sum().backward()
    r = corr(xi.grad.cpu().numpy())
    if r is None:
        out["jacob_cor"] = float("nan")
    else:
        v = np.linalg.eigvalsh(r)
        out["jacob_cor"] = float(-np.sum(np.log(v + 1e-5) + 1.0 / (v + 1e-5)))
    out["params"] = float(sum(p.numel() for p in net.parameters()))
    out["swap"] = float(len(np.unique(np.concatenate(patterns, 0), axis=0))) if patterns else 0.0
    # zico: the weight gradients of each half of the batch (training-mode BN over that half); per layer
    # log(sum over weights with a non-zero std of mean|g| / std(g)) over the two halves
    halves = []
    for lo, hi in ((0, b // 2), (b // 2, b)):
        net.zero_grad()
        nn.functional.cross_entropy(net(x[lo:hi]), y[lo:hi]).backward()
        halves.append([m.weight.grad.detach().to(torch.float64).reshape(-1).cpu().numpy().copy() for m in layers])
    z = 0.0
    for ga, gb in zip(*halves):
        g = np.stack([ga, gb])
        std = np.std(g, axis=0)
        nz = np.nonzero(std)[0]
        t = np.sum(np.mean(np.abs(g), axis=0)[nz] / std[nz])
        if t != 0:
            z += float(np.log(t))
    out["zico"] = z
    return out


def run_onnx(path, x, synthetic_weights=False):
    """The exported graph evaluated node by node with torch (BatchNormalization in training mode, Dropout
    as the identity), x's dtype throughout: [(op type, output name, output)] of every node, in order. An independent
    reading of the ONNX file, for meco's per-node definition."""
    import onnx
    from onnx import numpy_helper
    import torch.nn.functional as F
    m = onnx.load(path, load_external_data=False)
    dtype = x.dtype
    env = {}
    for t in m.graph.initializer:
        if t.data_location == onnx.TensorProto.EXTERNAL:
            v = synthetic(t.name, tuple(t.dims))
        else:
            v = numpy_helper.to_array(t)
        env[t.name] = torch.from_numpy(np.array(v)).to(dtype) if v.dtype.kind == "f" else torch.from_numpy(np.array(v))
    env[[i.name for i in m.graph.input if i.name not in env][0]] = x
    out = []
    for n in m.graph.node:
        a = {at.name: onnx.helper.get_attribute_value(at) for at in n.attribute}
        i = [env[k] if k else None for k in n.input]
        op = n.op_type
        if op == "Constant":
            v = numpy_helper.to_array(a["value"])
            ys = [torch.from_numpy(np.array(v)).to(dtype) if v.dtype.kind == "f" else torch.from_numpy(np.array(v))]
        elif op == "Conv":
            p = a.get("pads", [0, 0, 0, 0])
            xin = F.pad(i[0], (p[1], p[3], p[0], p[2]))
            ys = [F.conv2d(xin, i[1], i[2] if len(i) > 2 else None, stride=a.get("strides", [1, 1]), dilation=a.get("dilations", [1, 1]),
                           groups=a.get("group", 1))]
        elif op == "BatchNormalization":
            ys = [F.batch_norm(i[0], None, None, i[1], i[2], training=True, eps=a.get("epsilon", 1e-5))]
        elif op == "Relu":
            ys = [F.relu(i[0])]
        elif op == "Clip":
            ys = [torch.clamp(i[0], float(i[1]) if len(i) > 1 and i[1] is not None else None, float(i[2]) if len(i) > 2 and i[2] is not None else None)]
        elif op == "LeakyRelu":
            ys = [F.leaky_relu(i[0], a.get("alpha", 0.01))]
        elif op == "Sigmoid":
            ys = [torch.sigmoid(i[0])]
        elif op == "HardSigmoid":
            ys = [torch.clamp(i[0] * a.get("alpha", 0.2) + a.get("beta", 0.5), 0, 1)]
        elif op in ("Add", "Sub", "Mul", "Div"):
            f = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op]
            ys = [f(i[0], i[1]) if not (op == "Div" and not i[0].is_floating_point()) else torch.div(i[0], i[1], rounding_mode="trunc")]
        elif op == "Concat":
            ys = [torch.cat(i, a["axis"])]
        elif op == "Split":
            ys = list(torch.split(i[0], i[1].tolist(), a.get("axis", 0)))
        elif op == "Slice":
            starts, ends = i[1].tolist(), i[2].tolist()
            axes = i[3].tolist() if len(i) > 3 and i[3] is not None else list(range(len(starts)))
            steps = i[4].tolist() if len(i) > 4 and i[4] is not None else [1] * len(starts)
            y = i[0]
            for st, en, ax, sp in zip(starts, ends, axes, steps):
                idx = torch.tensor(list(range(y.shape[ax]))[slice(st, en, sp)], dtype=torch.int64)  # Python's slice clamps as ONNX's does
                y = torch.index_select(y, ax, idx)
            ys = [y]
        elif op == "MaxPool":
            p = a.get("pads", [0, 0, 0, 0])
            ys = [F.max_pool2d(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), (p[0], p[1]), ceil_mode=bool(a.get("ceil_mode", 0)))]
        elif op == "AveragePool":
            p = a.get("pads", [0, 0, 0, 0])
            ys = [F.avg_pool2d(i[0], a["kernel_shape"], a.get("strides", a["kernel_shape"]), (p[0], p[1]), count_include_pad=bool(a.get("count_include_pad", 0)))]
        elif op == "GlobalAveragePool":
            ys = [i[0].mean((2, 3), keepdim=True)]
        elif op == "ReduceMean":
            ys = [i[0].mean(tuple(a["axes"]), keepdim=bool(a.get("keepdims", 1)))]
        elif op == "Flatten":
            ys = [torch.flatten(i[0], a.get("axis", 1))]
        elif op == "Gemm":
            w = i[1].t() if a.get("transB", 0) else i[1]
            ys = [i[0] @ w + (i[2] if len(i) > 2 else 0)]
        elif op == "MatMul":
            ys = [i[0] @ i[1]]
        elif op in ("Identity", "Dropout"):
            ys = [i[0]]
        elif op == "Resize":
            size = [int(v) for v in i[3][2:]] if len(i) > 3 and i[3] is not None else [int(i[0].shape[k + 2] * float(i[2][k + 2])) for k in range(2)]
            if a["mode"] == b"nearest":
                ys = [F.interpolate(i[0], size=size, mode="nearest")]
            else:
                ys = [F.interpolate(i[0], size=size, mode="bilinear", align_corners=False)]
        elif op == "Pad":
            p = i[1].tolist()
            ys = [F.pad(i[0], (p[3], p[7], p[2], p[6]))]
        elif op == "Shape":
            ys = [torch.tensor(list(i[0].shape), dtype=torch.int64)]
        elif op == "Gather":
            ys = [torch.index_select(i[0], a.get("axis", 0), i[1].reshape(-1)).reshape(i[1].shape)]
        elif op == "Unsqueeze":
            y = i[0]
            for ax in sorted(i[1].tolist()):
                y = y.unsqueeze(ax)
            ys = [y]
        elif op == "Cast":
            ys = [i[0].to(torch.int64) if a["to"] == 7 else i[0].to(dtype)]
        elif op == "ConstantOfShape":
            v = numpy_helper.to_array(a["value"])
            ys = [torch.full(i[0].tolist(), v.reshape(-1)[0].item(), dtype=torch.int64 if v.dtype.kind == "i" else dtype)]
        elif op == "Reshape":
            t = i[1].tolist()
            ys = [i[0].reshape([i[0].shape[k] if v == 0 else v for k, v in enumerate(t)])]
        elif op == "Transpose":
            ys = [i[0].permute(a["perm"])]
        else:
            raise ValueError("run_onnx: op " + op)
        for name, y in zip(n.output, ys):
            env[name] = y
            out.append((op, name, y))
    return out


def meco(path, x, synthetic_weights):
    """meco by its per-node definition for ONNX graphs: the batch's first image alone through the graph
    (the whole batch, each output's first sample, where some BatchNormalization normalises 1 x 1 maps);
    for every node output that is a map with more than one channel (Identity and Dropout rename a value,
    a Pad is folded into the next Conv: not counted), the smallest eigenvalue of the correlation matrix
    of its channels over the positions, NaN entries zeroed, summed."""
    import onnx
    m = onnx.load(path, load_external_data=False)
    trial = run_onnx(path, x, synthetic_weights)
    shapes = {name: tuple(y.shape) for (op, name, y) in trial}
    # a BatchNormalization over 1 x 1 maps: PyTorch refuses one image there, so the whole batch goes through
    whole = any(len(shapes[n.input[0]]) == 4 and shapes[n.input[0]][2] * shapes[n.input[0]][3] == 1
                for n in m.graph.node if n.op_type == "BatchNormalization")
    outs = trial if whole else run_onnx(path, x[:1], synthetic_weights)
    total = 0.0
    for op, name, y in outs:
        if op in ("Identity", "Dropout", "Pad") or not y.is_floating_point() or y.dim() != 4 or y.shape[1] <= 1:
            continue
        fea = y[0].detach().reshape(y.shape[1], -1).to(torch.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = np.corrcoef(fea.cpu().numpy())
        c = np.nan_to_num(np.clip(c, -1, 1), nan=0.0)
        total += float(np.min(np.linalg.eigvalsh(c)))
    return total


def synflow(net, shape):
    import copy
    s = copy.deepcopy(net).double()
    for name, m in list(s.named_modules()):
        for cname, child in list(m.named_children()):
            if isinstance(child, nn.BatchNorm2d):
                setattr(m, cname, nn.Identity())
    with torch.no_grad():
        for p in s.parameters():
            p.abs_()
    s = no_dropout(s)
    s.zero_grad()
    s(torch.ones((1,) + tuple(shape), dtype=torch.float64)).sum().backward()
    return float(sum((m.weight * m.weight.grad).abs().sum().item() for m in convs_and_linears(s)))


def flops(net, shape):
    macs = []

    def hook(m, inp, outp):
        if isinstance(m, nn.Conv2d):
            macs.append(outp.shape[1] * outp.shape[2] * outp.shape[3] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])
        elif isinstance(m, MatLinear):
            macs.append(m.weight.shape[0] * m.weight.shape[1])
        else:
            macs.append(m.in_features * m.out_features)

    hs = [m.register_forward_hook(hook) for m in convs_and_linears(net)]
    with torch.no_grad():
        net.train()(torch.randn((2,) + tuple(shape)))
    for h in hs:
        h.remove()
    return float(sum(macs))


def write(case, net, shape, batch, seed, classes=10, external=False):
    if ONLY and case not in ONLY:
        return
    folder = os.path.join(OUT, case)
    os.makedirs(folder, exist_ok=True)
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn((batch,) + tuple(shape), generator=g)
    y = torch.randint(0, classes, (batch,), generator=g)
    net = net.train()
    torch.onnx.export(net, x, os.path.join(folder, "model.onnx"), opset_version=13, training=torch.onnx.TrainingMode.TRAINING,
                      do_constant_folding=False, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    x.numpy().astype("<f4").tofile(os.path.join(folder, "input.bin"))
    y.numpy().astype("<i8").tofile(os.path.join(folder, "target.bin"))
    import copy
    f32 = proxies(copy.deepcopy(net), x, y, torch.float32)
    f64 = proxies(copy.deepcopy(net), x, y, torch.float64)
    for d, t in ((f32, torch.float32), (f64, torch.float64)):
        d["synflow"] = synflow(net, shape)
        d["flops"] = flops(copy.deepcopy(net), shape)
        with torch.no_grad():
            d["meco"] = meco(os.path.join(folder, "model.onnx"), x.to(t), external)
    with torch.no_grad():  # the graph as run_onnx reads it computes what the network computes
        want = no_dropout(copy.deepcopy(net).double().train())(x.double())
        got = run_onnx(os.path.join(folder, "model.onnx"), x.double())[-1][2]
        assert torch.allclose(want, got, rtol=1e-9, atol=1e-9), (case, float((want - got).abs().max()))
    if external:
        # every float initializer moves to weights.bin beside the model, which is not kept: the test writes it
        # again from the tensors' names and shapes (synthetic(), SyntheticWeights in Java), so the fixture stays
        # a few kilobytes whatever the network's size; the other initializers (shapes, counters) stay inline
        import onnx
        from onnx import external_data_helper, numpy_helper
        path = os.path.join(folder, "model.onnx")
        m = onnx.load(path)
        offset = 0
        for t in m.graph.initializer:
            if t.data_type != onnx.TensorProto.FLOAT:
                continue
            values = numpy_helper.to_array(t)
            if t.name.endswith(".running_mean") or t.name.endswith(".running_var"):
                values = synthetic(t.name, tuple(t.dims))  # the export's tracing pass moved them; training-mode BN never reads them
            assert np.array_equal(values, synthetic(t.name, tuple(t.dims))), t.name
            t.raw_data = values.astype("<f4").tobytes()
            t.ClearField("float_data")
            external_data_helper.set_external_data(t, "weights.bin", offset=offset, length=values.size * 4)
            t.data_location = onnx.TensorProto.EXTERNAL
            t.ClearField("raw_data")
            offset += values.size * 4
        onnx.save_model(m, path)
    # the reference's own float32 error, |f32 - f64| / |f64|: where it exceeds 1e-4 (a deep network whose ReLU6 and
    # training-mode BN on small maps make snip and grad_norm sensitive to rounding), the fixture rule allows 10 times it
    scatter = {k: abs(f32[k] - f64[k]) / abs(f64[k]) for k in f32 if f64[k] not in (0, float("inf"), float("-inf")) and f64[k] == f64[k]}
    meta = {"case": case, "input": list(shape), "batch": batch, "classes": classes, "opset": 13, "torch": torch.__version__,
            "synthetic_weights": external,
            "scores": f32, "scores_float64": f64, "f32_rel_scatter": scatter}
    with open(os.path.join(folder, "expected.json"), "w") as f:
        json.dump(meta, f, indent=1, sort_keys=True)
    print(case, os.path.getsize(os.path.join(folder, "model.onnx")), "bytes;", {k: round(v, 4) for k, v in f32.items()})


def main():
    torch.manual_seed(0)
    write("small-mixed", SmallMixed(), (3, 16, 16), 8, 0)
    torch.manual_seed(1)
    write("tiny-resnet", TinyResNet(), (3, 32, 32), 8, 1)
    torch.manual_seed(3)
    write("small-silu", SmallSiLU(), (3, 16, 16), 8, 3)
    torch.manual_seed(4)
    write("small-hard", SmallHard(), (3, 16, 16), 8, 4)
    torch.manual_seed(6)
    write("small-grouped", SmallGrouped(), (3, 16, 16), 8, 6)
    torch.manual_seed(8)
    write("small-dilated", SmallDilated(), (3, 16, 16), 8, 8)
    try:
        import torchvision
    except ImportError:
        print("torchvision not installed: its cases skipped", file=sys.stderr)
        return
    # torchvision's MobileNetV2 at a quarter of its width (ReLU6 as Clip, depthwise convs, inverted residuals, dropout)
    torch.manual_seed(2)
    write("tv-mobilenet_v2-w025", torchvision.models.mobilenet_v2(width_mult=0.25, num_classes=10), (3, 64, 64), 8, 2)
    # torchvision's ResNet-18 whole (11.2 M parameters) with synthetic() weights, kept as the graph alone
    write("tv-resnet18-synthetic", with_synthetic_weights(torchvision.models.resnet18(num_classes=10)), (3, 64, 64), 8, 5, external=True)
    # torchvision's ShuffleNetV2 x0.5: channel split (Split), the channel shuffle (Shape arithmetic, Reshape, Transpose, Reshape)
    write("tv-shufflenet_v2_x0_5-synthetic", with_synthetic_weights(torchvision.models.shufflenet_v2_x0_5(num_classes=10)), (3, 64, 64), 8, 7,
          external=True)


if __name__ == "__main__":
    main()
