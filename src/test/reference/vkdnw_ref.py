# Reference values of VKDNW (vkdnw_entropy, vkdnw_dim) for wrcor's fixtures (../shared/fixtures, all
# three spaces), computed with the authors' NAS-Bench-201 scoring code on the fixtures' weights and
# batch. Runs outside the wrcor repository.
#
# Needs, beside this script (read, run, never copied into the repository):
#   VKDNW at ondratybl/VKDNW 6901b65: NB201/ZeroShotProxy/compute_vkdnw_score.py (get_fisher,
#     cholesky_covariance, get_jacobian_index, compute_nas_score)
#   and what zc_nb201.py, zc_nb101.py and zc_mbv2.py need for their models (AZ-NAS's NB201 folder,
#   SWAP, the NB101 model folder NB1); their model builders are reused
# and a PyTorch (Debian's python3-torch 1.13: /usr/bin/python3). That PyTorch has no torch.func:
# the authors' `from torch.func import functional_call, jacrev, vmap` is served by the same
# functions of PyTorch 1.13 (torch.nn.utils.stateless.functional_call; functorch's jacrev and
# vmap, which became torch.func in PyTorch 2). scipy (imported for a statistic wrcor does not pin)
# is stubbed.
#
#   python3 vkdnw_ref.py VKDNW/NB201 AZ-NAS/NB201 SWAP NB1 FIXTURE_DIR...   (one JSON line each)
#
# How wrcor drives their compute_nas_score: init_model is skipped (the fixture's weights are kept),
# the input is the fixture batch (their trainloader path), p = 1 (one weight per tensor, its first)
# and params_grad_len = 128 (the first 128 tensors of named_parameters()); the model returns
# (features, logits) as their code indexes [1] (NB101's and MBV2's models are wrapped so).
import json, os, sys, types
import torch, torch.nn as nn

vk_root, az_root, swap_root, nb1_root = sys.argv[1:5]
fixtures = sys.argv[5:]
here = os.path.dirname(os.path.abspath(__file__))

import functorch
from torch.nn.utils import stateless

def functional_call(module, params, args, kwargs=None):
    # PyTorch 2 takes a tuple of dicts (here (parameters, buffers)) and merges them; 1.13 one dict
    if isinstance(params, tuple):
        merged = {}
        for d in params:
            merged.update(d)
        params = merged
    return stateless.functional_call(module, params, args, kwargs)

func = types.ModuleType('torch.func')
func.functional_call, func.jacrev, func.vmap = functional_call, functorch.jacrev, functorch.vmap
sys.modules['torch.func'] = func
torch.func = func
scipy = types.ModuleType('scipy'); stats = types.ModuleType('scipy.stats')
stats.chisquare = None
scipy.stats = stats
sys.modules.setdefault('scipy', scipy); sys.modules.setdefault('scipy.stats', stats)

# the model builders of the other reference scripts (importing them with no fixture arguments runs nothing)
sys.path.insert(0, here)
saved = sys.argv
sys.argv = [saved[0], az_root, swap_root]
import zc_nb201, zc_mbv2
sys.argv = [saved[0], az_root, swap_root, nb1_root]
import zc_nb101
sys.argv = saved
import zc_common
from zc_common import load

import importlib.util
spec = importlib.util.spec_from_file_location('compute_vkdnw_score', os.path.join(vk_root, 'ZeroShotProxy', 'compute_vkdnw_score.py'))
vk = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vk)
vk.init_model = lambda model, method='kaiming_norm_fanin': model  # the fixture's weights stay
_quantile = torch.quantile
def quantile(input, q, *a, **k):
    # their float32 deciles; torch refuses a float32 q for float64 input (the float64 recomputation only)
    return _quantile(input, q.to(input.dtype), *a, **k)
torch.quantile = quantile

class WithFeatures(nn.Module):
    """(input, logits), as the authors' NB201 model returns (features, logits); adds no parameter."""
    def __init__(self, net):
        super().__init__()
        self.net = net
    def forward(self, x):
        if isinstance(self.net, zc_mbv2.Net):  # its forward keeps features for AZ-NAS (retain_grad, refused under vmap)
            n = self.net
            x = nn.functional.interpolate(x, size=(n.resolution, n.resolution), mode='bilinear', align_corners=False)
            for block in n.module_list:
                for m in block.module_list:
                    x = m(x)
            return x, n.fc_linear(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return x, self.net(x)

def build(meta, t, dtype):
    space = meta.get('space', 'nb201')
    if space == 'nb201':
        return zc_nb201.build_nb201(meta, t, dtype)
    if space == 'nb101':
        return WithFeatures(zc_nb101.build_nb101(meta, t, dtype))
    return WithFeatures(zc_common.finish(zc_mbv2.Net(meta['structure'], meta['num_classes'], meta['resolution']), t, dtype))

def vkdnw(net, x):
    net.cuda = lambda *a, **k: net  # their compute_nas_score moves the model to the GPU; here the CPU
    info = vk.compute_nas_score(net, gpu=None, trainloader=[[x]], resolution=x.shape[2], batch_size=x.shape[0],
                                params_grad_len=128, p=1)
    return info['vkdnw_entropy'], info['vkdnw_dim']

for fix in fixtures:
    meta, t = load(fix)
    x = t['input']
    row = {}
    for dtype, suffix in ((torch.float32, ''), (torch.float64, '_float64')):
        e, d = vkdnw(build(meta, t, dtype), x.to(dtype))
        row['vkdnw_entropy' + suffix] = e
        row['vkdnw_dim' + suffix] = d
    print(json.dumps({'fixture': meta.get('space', 'nb201') + '/' + meta['name'], **row}), flush=True)
