# How far float32 rounding alone moves WRCor's K on a MobileNetV2-like fixture (FixtureParityTest's
# SCATTERING_K): the published sites (each SE's nn.ReLU: its input and its input gradient, weight
# 2^block) hooked on zc_mbv2.py's model, K = sum w |corrcoef| in float64 over float32 and float64
# forward/backward passes, and over float32 passes of inputs multiplied by (1 + 1e-7 N(0, 1)).
# Runs outside the wrcor repository, as zc_mbv2.py (whose model it imports):
#
#   python3 wrcor_k_scatter.py AZ-NAS/NB201 SWAP FIXTURE_DIR
import os, runpy, sys
import numpy as np
import torch, torch.nn as nn

az_root, swap_root, fix = sys.argv[1:4]
sys.argv = ['zc_mbv2.py', az_root, swap_root]  # no fixtures: load the model code only
g = runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'zc_mbv2.py'))
meta, t = g['load'](fix)

def kernel(dtype, perturb=0.0, seed=0):
    net = g['finish'](g['Net'](meta['structure'], meta['num_classes'], meta['resolution']), t, dtype)
    x = t['input'].to(dtype)
    if perturb:
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        x = x * (1 + perturb * noise).to(dtype)
    responses = []
    for b, block in enumerate(net.module_list):
        for m in block.modules():
            if isinstance(m, nn.ReLU):
                w = 2.0 ** b
                m.register_forward_hook(lambda mod, i, o, w=w: responses.append((w, i[0].detach())))
                m.register_full_backward_hook(lambda mod, gi, go, w=w: responses.append((w, gi[0].detach())))
    nn.CrossEntropyLoss()(net(x), t['target']).backward()
    k = np.zeros((x.shape[0], x.shape[0]))
    for w, r in responses:
        c = np.corrcoef(r.reshape(r.shape[0], -1).double().numpy())
        if not np.isnan(c).any():
            k += w * np.abs(np.clip(c, -1, 1))
    return k

want = np.fromfile(os.path.join(fix, 'expected_wrcor_K.bin'), dtype=np.float64).reshape(meta['batch'], meta['batch'])
fro = lambda a, b: float(np.linalg.norm(a - b) / np.linalg.norm(b))
k32, k64 = kernel(torch.float32), kernel(torch.float64)
print('relative Frobenius: float32 K to the fixture K %.3g, float64 K to it %.3g' % (fro(k32, want), fro(k64, want)))
for s in range(3):
    kp = kernel(torch.float32, 1e-7, s)
    print('input * (1 + 1e-7 N(0,1)), seed %d: float32 K moves %.3g, log det %.8f (unperturbed %.8f)'
          % (s, fro(kp, k32), np.linalg.slogdet(kp)[1], np.linalg.slogdet(k32)[1]))
