# Reference values of zico, swap, meco and the AZ-NAS components for wrcor's NAS-Bench-101 fixtures
# (../shared/fixtures/nb101), computed with the authors' scoring code on the published models
# loaded with the fixtures' weights and batch. Runs outside the wrcor repository.
#
# Needs, beside this script:
#   AZ-NAS at cvlab-yonsei/AZ-NAS 5e6683a: NB201/ZeroShotProxy/compute_zico_score.py (zico)
#   SWAP at pym1024/SWAP f6049f7: src/metrics/swap.py
#   NB101: the published NAS-Bench-101 PyTorch model as HamsterMimi/MeCo 0d830dd carries it
#     (correlation/foresight/models/nasbench1.py, nasbench1_ops.py) in a package folder NB1;
#     its in-place `outputs += ...` is read as `outputs = outputs + ...` (the reference's reading,
#     ../shared/SPEC.md: forward unchanged, and backward possible for published_backward_fails)
#
#   python3 zc_nb101.py AZ-NAS/NB201 SWAP NB1 FIXTURE_DIR...   (one JSON line each)
#
# zico's two batches are the fixture batch's halves; swap takes the whole batch, no regularisation;
# the AZ-NAS components on the features listed in features() below, signs as zc_nb201.py's.
import json, os, sys, types, importlib.util
import numpy as np
import torch, torch.nn as nn

az_root, swap_root, nb1_root = sys.argv[1:4]
sys.path.insert(0, az_root)
sys.path.insert(0, swap_root)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from zc_common import load, zico, swap, az, finish, meco

def load_nb1():
    pkg = types.ModuleType('nb1'); pkg.__path__ = [nb1_root]; sys.modules['nb1'] = pkg
    spec = importlib.util.spec_from_file_location('nb1.nasbench1_ops', os.path.join(nb1_root, 'nasbench1_ops.py'))
    ops = importlib.util.module_from_spec(spec); sys.modules['nb1.nasbench1_ops'] = ops; spec.loader.exec_module(ops)
    src = open(os.path.join(nb1_root, 'nasbench1.py')).read()
    assert src.count('outputs += self.input_op') == 1
    src = src.replace('outputs += self.input_op', 'outputs = outputs + self.input_op')
    mod = types.ModuleType('nb1.nasbench1'); mod.__package__ = 'nb1'; sys.modules['nb1.nasbench1'] = mod
    exec(compile(src, 'nasbench1.py', 'exec'), mod.__dict__)
    return mod

class Spec:
    def __init__(self, s):
        rows, ops = s.split(' ')
        self.matrix = np.array([[int(c) for c in r] for r in rows.split(';')])
        self.ops = ops.split(';')

def build_nb101(meta, t, dtype):
    nb1 = load_nb1()
    net = nb1.Network(Spec(meta['pruned_spec']), meta['stem'], meta['stacks'], meta['cells'], meta['num_classes'])
    return finish(net, t, dtype)

def features(net, x):
    """AZ-NAS's feature list on NB101 (AZ-NAS has no NB101 code; wrcor's reading, as its NB201
    cells): the stem's output and every cell's, not the max pools'."""
    out = []
    h = x
    for i, layer in enumerate(net.layers):
        h = layer(h)
        if i == 0 or type(layer).__name__ == 'Cell':
            out.append(h)
    return out

for fix in sys.argv[4:]:
    meta, t = load(fix)
    x, y = t['input'], t['target']
    build = build_nb101
    row = {}
    for dtype, suffix in ((torch.float32, ''), (torch.float64, '_float64')):
        xd = x.to(dtype)
        row['zico' + suffix] = zico(build(meta, t, dtype), xd, y)
        row['swap' + suffix] = swap(build(meta, t, dtype), xd)
        row['meco' + suffix], row['meco_hooks'], row['meco_maps'] = meco(build(meta, t, dtype), xd[0:1])
        for k, v in az(features(build(meta, t, dtype), xd)).items():
            row[k + ('' if k == 'features' else suffix)] = v
    print(json.dumps({'fixture': 'nb101/' + meta['name'], **row}), flush=True)
