# Reference values of zico, swap and the AZ-NAS components for wrcor's NAS-Bench-201 fixtures
# (../shared/fixtures/nb201), computed with the authors' code on the fixtures' weights and batch.
#
# Needs, beside this script (not part of wrcor; read, run, never copied into the repository):
#   AZ-NAS at cvlab-yonsei/AZ-NAS 5e6683a: its NB201 folder (xautodl's TinyNetwork with
#     extract_cell_features; ZeroShotProxy/compute_zico_score.py, ZiCo's code made NB201-ready;
#     ZeroShotProxy/compute_az_nas_score.py)
#   SWAP at pym1024/SWAP f6049f7: src/metrics/swap.py
# and a PyTorch (Debian's python3-torch 1.13 was used: /usr/bin/python3).
#
#   python3 zc_nb201.py AZ-NAS/NB201 SWAP FIXTURE_DIR...   (one JSON line per fixture)
#
# What wrcor pins, and how it feeds the authors' code:
# - zico: compute_zico_score.getgrad/caculate_zico over two batches: the fixture batch's first and
#   second halves (their labels from target.bin), one forward + cross-entropy backward each.
# - swap: SWAP(model, inputs).forward() (no parameter regularisation), the whole batch.
# - az_*: compute_az_nas_score's body after init_model (the fixture's weights are kept), with the
#   Bernoulli +-1 signs of the trainability step replaced by wrcor's deterministic ones: element k
#   (row-major over [B, C, H, W]) of feature i's signs is -1 when the top bit of
#   splitmix64(i, k) is set, else +1 (see splitmix_signs).
import os, sys
import torch

az_root, swap_root = sys.argv[1], sys.argv[2]
sys.path.insert(0, az_root)
sys.path.insert(0, swap_root)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from custom.tss_model import TinyNetwork
from xautodl.models.cell_searchs.genotypes import Structure
from zc_common import load, zico, swap, az, finish
import json

def build_nb201(meta, t, dtype):
    return finish(TinyNetwork(meta['C'], meta['N'], Structure.str2structure(meta['arch']), meta['num_classes']), t, dtype)

out = {}
for fix in sys.argv[3:]:
    meta, t = load(fix)
    x, y = t['input'], t['target']
    row = {}
    for dtype, suffix in ((torch.float32, ''), (torch.float64, '_float64')):
        xd = x.to(dtype)
        row['zico' + suffix] = zico(build_nb201(meta, t, dtype), xd, y)
        row['swap' + suffix] = swap(build_nb201(meta, t, dtype), xd)
        for k, v in az(build_nb201(meta, t, dtype).extract_cell_features(xd)).items():
            row[k + ('' if k == 'features' else suffix)] = v
    print(json.dumps({'fixture': 'nb201/' + meta['name'], **row}), flush=True)
