# Shared by zc_nb201.py and zc_other_spaces.py: the fixtures' loader, wrcor's trainability signs,
# and the authors' scoring code driven the way wrcor pins it (see those scripts). Runs outside the
# wrcor repository, with the authors' repositories on sys.path (the callers put them there).
import json, os
import numpy as np
import torch, torch.nn as nn
from ZeroShotProxy import compute_zico_score as zico_mod
from src.metrics.swap import SWAP

GOLDEN = np.uint64(0x9E3779B97F4A7C15)

def splitmix_signs(stream, n):
    """+-1, element k (k = 0..n-1) from the splitmix64 finaliser of stream * 0xD1B54A32D192ED03 + (k + 1) * golden (wrcor: AzNas.signs)."""
    with np.errstate(over='ignore'):
        z = np.uint64(stream) * np.uint64(0xD1B54A32D192ED03) + (np.arange(1, n + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return np.where((z >> np.uint64(63)) == 1, -1.0, 1.0)

def load(fix):
    m = json.load(open(os.path.join(fix, 'manifest.json')))
    t = {}
    for e in m['tensors']:
        dt = {'float32': np.float32, 'int64': np.int64, 'float64': np.float64, 'int32': np.int32}[e['dtype']]
        t[e['name']] = torch.from_numpy(np.fromfile(os.path.join(fix, e['file']), dtype=dt).reshape(e['shape']).copy())
    return m['meta'], t

def finish(net, t, dtype):
    """Loads the fixture's tensors into net (every parameter and BN buffer from the fixture) in training mode."""
    sd = net.state_dict()
    missing = [k for k in sd if k not in t and not k.endswith('num_batches_tracked')]
    assert not missing, missing[:5]
    extra = [k for k in t if k not in sd and k not in ('input', 'target')]
    assert not extra, extra[:5]
    sd.update({k: v for k, v in t.items() if k in sd})
    net.load_state_dict(sd, strict=True)
    return net.to(dtype).train()

def zico(net, x, y):
    grad_dict = {}
    lossfunc = nn.CrossEntropyLoss()
    h = x.shape[0] // 2
    for i, (xb, yb) in enumerate(((x[:h], y[:h]), (x[h:], y[h:]))):
        net.zero_grad(set_to_none=True)
        out = net(xb)
        logits = out[1] if isinstance(out, tuple) else out  # AZ-NAS's NB201 model returns (features, logits)
        lossfunc(logits, yb).backward()
        grad_dict = zico_mod.getgrad(net, grad_dict, i)
    return float(zico_mod.caculate_zico(grad_dict))

def meco(net, x):
    """MeCo (HamsterMimi/MeCo 0d830dd, correlation/foresight/pruners/measures/meco.py, get_score with
    split_data=1): a forward hook on every module of net; for the first sample of its output,
    C x (H W), the smallest real eigenvalue of torch.corrcoef over the rows with NaN and inf entries
    zeroed; the finite ones summed. x is what the caller feeds: their NB201 driver one image (their
    NB101 measure torch.randn(1, 3, 64, 64) drawn afresh; wrcor the batch's first image), the
    MobileNetV2-like space the whole batch (one image cannot pass the SE's training-mode BN).
    Returns the sum, the number of hook calls, and how many of them saw more than one column (the
    others' correlation matrix is all NaN, zeroed: they add nothing)."""
    mins = []
    maps = [0]
    def hook(module, inputs, output):
        f = output[0].detach()
        f = f.reshape(f.shape[0], -1)
        maps[0] += f.shape[1] > 1
        c = torch.corrcoef(f)
        c[torch.isnan(c)] = 0
        c[torch.isinf(c)] = 0
        mins.append(torch.min(torch.real(torch.linalg.eig(c)[0])))
    handles = [m.register_forward_hook(hook) for _, m in net.named_modules()]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    v = torch.tensor(mins, dtype=torch.float64)
    return float(torch.sum(v[torch.isfinite(v)]).item()), len(mins), maps[0]

def swap(net, x):
    return float(SWAP(model=net, inputs=x, device='cpu', seed=0).forward())

def az(layer_features):
    # compute_az_nas_score.compute_nas_score from `layer_features = ...` on, signs as above
    expressivity_scores = []
    for i in range(len(layer_features)):
        feat = layer_features[i].detach().clone()
        b, c, h, w = feat.size()
        feat = feat.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        m = feat.mean(dim=0, keepdim=True)
        feat = feat - m
        sigma = torch.mm(feat.transpose(1, 0), feat) / (feat.size(0))
        s = torch.linalg.eigvalsh(sigma)
        prob_s = s / s.sum()
        score = (-prob_s) * torch.log(prob_s + 1e-8)
        expressivity_scores.append(score.sum().item())
    expressivity_scores = np.array(expressivity_scores)
    progressivity = np.min(expressivity_scores[1:] - expressivity_scores[:-1])
    expressivity = np.sum(expressivity_scores)
    scores = []
    for i in reversed(range(1, len(layer_features))):
        f_out, f_in = layer_features[i], layer_features[i - 1]
        g_out = torch.from_numpy(splitmix_signs(i, f_out.numel()).reshape(f_out.shape)).to(f_out.dtype)
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=True, allow_unused=True)[0]
        if g_in is None:
            g_in = torch.zeros_like(f_in)
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores.append(-np.inf)
        else:
            if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
                g_in = nn.PixelUnshuffle(int(g_in.size(2) / g_out.size(2)))(g_in)
            bo, co, ho, wo = g_out.size()
            bi, ci, hi, wi = g_in.size()
            g_out = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
            g_in = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
            mat = torch.mm(g_in.transpose(1, 0), g_out) / (bo * ho * wo)
            if mat.size(0) < mat.size(1):
                mat = mat.transpose(0, 1)
            s = torch.linalg.svdvals(mat)
            scores.append(-s.max().item() - 1 / (s.max().item() + 1e-6) + 2)
    trainability = np.mean(scores)
    clean = lambda v: float(v) if not np.isnan(v) else -np.inf
    return {'az_expressivity': clean(expressivity), 'az_progressivity': clean(progressivity), 'az_trainability': clean(trainability),
            'features': len(layer_features)}

