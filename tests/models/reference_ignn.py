"""An independent, dense re-statement of the authors' IGNN forward pass (test oracle).

Written from the algorithm of ``github:sczhou/IGNN`` (``models/IGNN.py``,
``models/submodules.py``, ``models/graph_agg.py``) in their data layout -- full
``M x N`` distance matrices gathered at window indices, expanded gathers, per-rank
loops, patch tensors ``[B, C, p, p, n1, n2]`` -- and driven by a state dict under the
authors' parameter names.  It shares no code with ``ignn_pyg`` beyond torch, so the
library's graph/PyG formulation is checked against a different computation.
"""

import torch
import torch.nn.functional as F


def _conv(sd, name, x, relu=False, stride=1):
    w = sd[name + ".weight"]
    y = F.conv2d(x, w, sd[name + ".bias"], stride=stride, padding=(w.shape[-1] - 1) // 2)
    return torch.relu(y) if relu else y


def _resblock(sd, name, x, res_scale):
    return x + _conv(sd, name + ".body.2", _conv(sd, name + ".body.0", x, relu=True)) * res_scale


def _pad_amounts(h, w, p, t):
    ph, pw = -(h - p) % t, -(w - p) % t
    return ph // 2, ph - ph // 2, pw // 2, pw - pw // 2


def _im2patch(x, p, t):
    """[B, C, H, W] -> ([B, C, p, p, n1, n2], padding)."""
    top, bottom, left, right = _pad_amounts(x.shape[2], x.shape[3], p, t)
    xp = F.pad(x, (left, right, top, bottom))
    n1, n2 = (xp.shape[2] - p) // t + 1, (xp.shape[3] - p) // t + 1
    cols = F.unfold(xp, p, stride=t)
    return cols.view(x.shape[0], x.shape[1], p, p, n1, n2), (top, bottom, left, right)


def _patch2im(patches, p, t, padding):
    """[B, C, p, p, n1, n2] -> averaged image with padding removed."""
    b, c, _, _, n1, n2 = patches.shape
    size = ((n1 - 1) * t + p, (n2 - 1) * t + p)
    flat = patches.reshape(b, c * p * p, n1 * n2)
    summed = F.fold(flat, size, p, stride=t)
    counts = F.fold(torch.ones_like(flat), size, p, stride=t)
    top, bottom, left, right = padding
    out = summed / counts
    return out[:, :, top : out.shape[2] - bottom, left : out.shape[3] - right]


def _window_index(n1, n2, m1, m2, window, scale):
    s = min(window, n1, n2)
    i = torch.arange(m1).view(m1, 1, 1, 1)
    j = torch.arange(m2).view(1, m2, 1, 1)
    ch = (i // 2 - s // scale).clamp(0, n1 - s)
    cw = (j // 2 - s // scale).clamp(0, n2 - s)
    col_off = torch.arange(s).view(1, 1, s, 1)
    row_off = torch.arange(s).view(1, 1, 1, s) * n2
    return (ch * n2 + cw + col_off + row_off).view(m1 * m2, s * s)


def _vgg(sd, x):
    x = _conv(sd, "vggnet.sub_mean", x / 255.0)
    return _conv(sd, "vggnet.model.2", _conv(sd, "vggnet.model.0", x, relu=True), relu=True)


def reference_graph(sd, lr, lr_down, scale, k, window, p=3, t=2):
    """Neighbour indices ``[B, M, k]`` and folded edge features ``[B, k*64, sH, sW]``."""
    xe_p, _ = _im2patch(_vgg(sd, lr_down), p, t)
    ye_p, pad = _im2patch(_vgg(sd, lr), p, t)
    b, ce, _, _, n1, n2 = xe_p.shape
    m1, m2 = ye_p.shape[-2:]
    n, m, e = n1 * n2, m1 * m2, ce * p * p
    xe = xe_p.permute(0, 4, 5, 1, 2, 3).reshape(b, n, e)
    ye = ye_p.permute(0, 4, 5, 1, 2, 3).reshape(b, m, e)
    dist = -2 * ye @ xe.transpose(1, 2) + (ye**2).sum(-1, keepdim=True) + (xe**2).sum(-1)[:, None, :]
    if window >= n1 and window >= n2:
        idx = dist.topk(k, dim=2, largest=False).indices
    else:
        index = _window_index(n1, n2, m1, m2, window, scale).expand(b, -1, -1)
        local = (dist.gather(2, index) + 1e-5).topk(k, dim=2, largest=False).indices
        idx = index.gather(2, local)
    neighbours = xe.transpose(1, 2)[:, None].expand(b, m, e, n).gather(3, idx[:, :, None, :].expand(b, m, e, k))
    diff = (ye[..., None] - neighbours).abs().view(b, m, ce, p * p, k).sum(3, keepdim=True)
    diff = diff.expand(b, m, ce, p * scale * p * scale, k).permute(0, 4, 2, 3, 1)
    diff = diff.reshape(b, k * ce, p * scale, p * scale, m1, m2)
    diff = _patch2im(diff, p * scale, t * scale, [q * scale for q in pad])
    return idx, diff


def reference_aggregate(sd, y, idx, diff, scale, k, res_scale, p=3, t=2):
    """The authors' GCN block: returns (lr branch, hr branch)."""
    b, c, h, w = y.shape
    yc = y[:, :, : h - h % scale, : w - w % scale]
    yd = yc.reshape(b, c, h // scale, scale, w // scale, scale).permute(0, 1, 3, 5, 2, 4)
    yd = yd.reshape(b, c * scale * scale, h // scale, w // scale)
    y_p, pad = _im2patch(y, p, t)
    yd_p, _ = _im2patch(yd, p, t)
    m1, m2 = y_p.shape[-2:]
    n1, n2 = yd_p.shape[-2:]
    m, n, f = m1 * m2, n1 * n2, c * scale * scale * p * p
    yq = y_p.permute(0, 4, 5, 1, 2, 3).reshape(b, m, c, p * p)
    ys = yd_p.permute(0, 4, 5, 1, 2, 3).reshape(b, n, f)
    z = ys.transpose(1, 2)[:, None].expand(b, m, f, n).gather(3, idx[:, :, None, :].expand(b, m, f, k))
    z = z.reshape(b, m, c, scale * scale * p * p, k)
    q_mean, q_std = yq.mean(3)[..., None, None], (yq.var(3) + 1e-5).sqrt()[..., None, None]
    z_mean, z_std = z.mean(3, keepdim=True), (z.var(3, keepdim=True) + 1e-5).sqrt()
    z = ((z - z_mean) / z_std * q_std + q_mean).reshape(b, m, f, k)
    z = z.permute(0, 3, 2, 1).reshape(b, k, c, scale, scale, p, p, m1, m2)
    z = z.permute(0, 1, 2, 5, 3, 6, 4, 7, 8).reshape(b, k * c, p * scale, p * scale, m1, m2)
    knn_hr = _patch2im(z, p * scale, t * scale, [q * scale for q in pad]).reshape(b, k, c, h * scale, w * scale)
    diff = diff.reshape(b, k, -1, h * scale, w * scale)

    def weight_net(prefix, a):
        a = _conv(sd, prefix + ".0.0", a)
        return _conv(sd, prefix + ".2.0", _resblock(sd, prefix + ".1", a, res_scale))

    lr_maps, w_lr, w_hr = [], [], []
    for r in range(k):
        a = _conv(sd, "gcn.knn_downsample.0.0", knn_hr[:, r], relu=True, stride=scale)
        a = _conv(sd, "gcn.knn_downsample.2.0", _conv(sd, "gcn.knn_downsample.1.0", a, relu=True))
        lr_maps.append(a)
        w_lr.append(weight_net("gcn.weightnet_lr", F.avg_pool2d(diff[:, r], scale)))
        w_hr.append(weight_net("gcn.weightnet_hr", diff[:, r]))
    w_lr = torch.stack(w_lr, 1).softmax(1)
    w_hr = torch.stack(w_hr, 1).softmax(1)
    return (torch.stack(lr_maps, 1) * w_lr).sum(1), (knn_hr * w_hr).sum(1)


def reference_forward(sd, lr, lr_down, scale, n_resblocks, k=5, window=30, res_scale=0.1):
    """The authors' ``IGNN.forward(lr_down, lr)`` on state dict ``sd`` (their names)."""
    gs = 2 if scale == 4 else scale
    idx, diff = reference_graph(sd, lr, lr_down, gs, k, window)
    x0 = _conv(sd, "head.0", _conv(sd, "sub_mean", lr))
    x1 = x0
    for i in range(n_resblocks // 2):
        x1 = _resblock(sd, f"body1.{i}", x1, res_scale)
    lr_branch, hr_branch = reference_aggregate(sd, x1, idx, diff, gs, k, res_scale)
    x1 = _conv(sd, "fuse_b.1.0", _conv(sd, "fuse_b.0.0", torch.cat([x1, lr_branch], 1), relu=True))
    x2 = x1
    n_post = n_resblocks - n_resblocks // 2
    for i in range(n_post):
        x2 = _resblock(sd, f"body2.{i}", x2, res_scale)
    x2 = _conv(sd, f"body2.{n_post}.0", x2) + x0
    x = x2
    for i in range(0, len([key for key in sd if key.startswith("upsample.") and key.endswith("weight")]) * 2, 2):
        x = F.pixel_shuffle(_conv(sd, f"upsample.{i}", x), gs)
    x = _conv(sd, "fuse_up.1.0", _conv(sd, "fuse_up.0.0", torch.cat([x, hr_branch], 1), relu=True), relu=True)
    if scale == 4:
        x = _conv(sd, "tail.1.0", F.pixel_shuffle(_conv(sd, "tail.0.0", x), 2))
    else:
        x = _conv(sd, "tail.0.0", x)
    return _conv(sd, "add_mean", x), idx
