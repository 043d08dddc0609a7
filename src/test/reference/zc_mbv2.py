# Reference values of zico, swap, meco and the AZ-NAS components for wrcor's MobileNetV2-like fixtures
# (../shared/fixtures/mbv2). The published network's PyTorch code is not at hand: the model below is
# written from ../shared/SPEC.md (ZenNAS PlainNet blocks as the WRCor code builds them: one unit per
# layer, SE on, BN eps 1e-3, the input resized bilinearly) with the published state_dict names, and
# is checked against each fixture's expected logits before anything is scored. Module classes follow
# the published ones where the proxies look at them: the SE's ReLU is an nn.ReLU (SWAP hooks it),
# the main-path RELU blocks call F.relu (SWAP does not see them; AZ-NAS's MobileNetV2 code,
# cvlab-yonsei/AZ-NAS 5e6683a ImageNet_MBV2/Masternet.py extract_layer_features_and_logit, takes
# the output of each RELU block in a top-level block's list as its features). The module tree, which
# meco hooks whole, is ZenNAS PlainNet's as AZ-NAS 5e6683a carries it (ImageNet_MBV2/PlainNet/
# basic_blocks.py, super_blocks.py, Masternet.py): ConvKX, ConvDW, BN and Linear wrap their torch
# module as `netblock`; RELU calls F.relu; SE's `netblock` is a Sequential of seven modules; a
# residual layer holds its inner blocks in `module_list` and its projection in `proj`; the
# resize, the global pooling and the flatten are functional. Runs outside the
# wrcor repository, with AZ-NAS (NB201/ZeroShotProxy) and SWAP (src) as for zc_nb201.py:
#
#   python3 zc_mbv2.py AZ-NAS/NB201 SWAP FIXTURE_DIR...   (one JSON line each)
import json, os, re, sys
import numpy as np
import torch, torch.nn as nn
import torch.nn.functional as F

az_root, swap_root = sys.argv[1:3]
sys.path.insert(0, az_root)
sys.path.insert(0, swap_root)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zc_common import load, zico, swap, az, finish, meco

EPS = 1e-3

def smart_round(x, base):
    return max(base, base * round(x / base))

class NB(nn.Module):
    def __init__(self, m):
        super().__init__()
        self.netblock = m
    def forward(self, x):
        return self.netblock(x)

class RELU(nn.Module):
    def forward(self, x):
        return F.relu(x)

class SE(nn.Module):
    def __init__(self, c):
        super().__init__()
        se = max(1, round(c / 4))
        self.netblock = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, se, 1, bias=False), nn.BatchNorm2d(se, eps=EPS), nn.ReLU(),
                                      nn.Conv2d(se, c, 1, bias=False), nn.BatchNorm2d(c, eps=EPS), nn.Sigmoid())
    def forward(self, x):
        return x * self.netblock(x)

class Unit(nn.Module):
    def __init__(self, cin, cout, dw, k, stride, proj):
        super().__init__()
        self.module_list = nn.ModuleList([NB(nn.Conv2d(cin, dw, 1, bias=False)), NB(nn.BatchNorm2d(dw, eps=EPS)), RELU(),
                                          NB(nn.Conv2d(dw, dw, k, stride, (k - 1) // 2, groups=dw, bias=False)), NB(nn.BatchNorm2d(dw, eps=EPS)), RELU(),
                                          SE(dw), NB(nn.Conv2d(dw, cout, 1, bias=False)), NB(nn.BatchNorm2d(cout, eps=EPS))])
        self.proj = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=True), nn.BatchNorm2d(cout, eps=EPS)) if proj else None
    def forward(self, x):
        h = x
        for m in self.module_list:
            h = m(h)
        return h + (self.proj(x) if self.proj is not None else x)

class Block(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.module_list = nn.ModuleList(layers)
    def forward(self, x):
        for m in self.module_list:
            x = m(x)
        return x

class Net(nn.Module):
    def __init__(self, structure, classes, resolution):
        super().__init__()
        self.resolution = resolution
        blocks = []
        for kind, args in re.findall(r'(SuperConvK\dBNRELU|SuperResIDWE\dK\d)\(([^)]*)\)', structure):
            a = [int(v) for v in args.split(',')]
            if kind.startswith('SuperConv'):
                k = int(kind[len('SuperConvK')])
                cin, cout, stride, L = a
                layers = []
                for j in range(L):
                    layers += [NB(nn.Conv2d(cin if j == 0 else cout, cout, k, stride if j == 0 else 1, (k - 1) // 2, bias=False)),
                               NB(nn.BatchNorm2d(cout, eps=EPS)), RELU()]
            else:
                e, k = int(kind[len('SuperResIDWE')]), int(kind[-1])
                cin, cout, stride, b, L = a
                dw = smart_round(b * e, 8)
                layers = []
                for j in range(L):
                    layers += [Unit(cin if j == 0 else cout, cout, dw, k, stride if j == 0 else 1, j == 0), RELU()]
            blocks.append(Block(layers))
        self.module_list = nn.ModuleList(blocks)
        self.fc_linear = NB(nn.Linear(blocks[-1].module_list[-3].netblock.out_channels, classes))

    def features_and_logits(self, x):
        feats = []
        x = F.interpolate(x, size=(self.resolution, self.resolution), mode='bilinear', align_corners=False)
        for block in self.module_list:
            for m in block.module_list:
                x = m(x)
                if isinstance(m, RELU):
                    if x.requires_grad:
                        x.retain_grad()
                    feats.append(x)
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return feats, self.fc_linear(x)

    def forward(self, x):
        # PlainNet's forward: each top-level block called as a module (meco's hooks see its output)
        x = F.interpolate(x, size=(self.resolution, self.resolution), mode='bilinear', align_corners=False)
        for block in self.module_list:
            x = block(x)
        return self.fc_linear(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

for fix in sys.argv[3:]:
    meta, t = load(fix)
    x, y = t['input'], t['target']
    build = lambda dtype: finish(Net(meta['structure'], meta['num_classes'], meta['resolution']), t, dtype)
    want = np.fromfile(os.path.join(fix, 'expected_logits.bin'), dtype=np.float32).reshape(x.shape[0], -1)
    got = build(torch.float32)(x).detach().numpy()
    err = np.abs(got - want).max() / np.abs(want).max()
    # the deep sampled case scatters by up to 1e-3 between float32 runs (the fixtures' f32_rel_scatter)
    assert err < 1e-3, (meta['name'], 'logits differ from the fixture by', err)
    row = {'logits_rel_err': float(err)}
    for dtype, suffix in ((torch.float32, ''), (torch.float64, '_float64')):
        xd = x.to(dtype)
        row['zico' + suffix] = zico(build(dtype), xd, y)
        row['swap' + suffix] = swap(build(dtype), xd)
        row['meco' + suffix], row['meco_hooks'], row['meco_maps'] = meco(build(dtype), xd)
        for k, v in az(build(dtype).features_and_logits(xd)[0]).items():
            row[k + ('' if k == 'features' else suffix)] = v
    print(json.dumps({'fixture': 'mbv2/' + meta['name'], **row}), flush=True)
