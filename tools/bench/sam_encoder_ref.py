#!/usr/bin/env python3
"""A plain-PyTorch SAM ViT image encoder, written for psam as a reference.

Same architecture and parameter names as segment_anything's ImageEncoderViT (that package is
not installed here). Two uses:
  bench: time it (ms per image) under the same libtorch/BLAS/thread count as bench_encoder;
  dump:  write random weights, an input and its output for psam's parity tests of shapes
         the golden set does not cover (e.g. windows that need padding).
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    def __init__(self, channels, eps=1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(1, keepdim=True)
        var = (x - mean).pow(2).mean(1, keepdim=True)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return self.weight[:, None, None] * y + self.bias[:, None, None]


class MLPBlock(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.lin1 = nn.Linear(dim, hidden)
        self.lin2 = nn.Linear(hidden, dim)
        self.act = nn.GELU()

    def forward(self, x):
        return self.lin2(self.act(self.lin1(x)))


def relative_table(size, table):
    """[size, size, C]: the embedding of offset (i - j) for query i and key j."""
    idx = torch.arange(size)[:, None] - torch.arange(size)[None, :] + (size - 1)
    return table[idx]


class Attention(nn.Module):
    def __init__(self, dim, heads, grid):
        super().__init__()
        self.heads = heads
        head_dim = dim // heads
        self.scale = head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * grid - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * grid - 1, head_dim))

    def forward(self, x):
        b, h, w, c = x.shape
        qkv = self.qkv(x).reshape(b, h * w, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).reshape(3, b * self.heads, h * w, -1)
        logits = (q * self.scale) @ k.transpose(-2, -1)
        qg = q.reshape(b * self.heads, h, w, -1)
        bias_h = torch.einsum("nyxc,ykc->nyxk", qg, relative_table(h, self.rel_pos_h))
        bias_w = torch.einsum("nyxc,xkc->nyxk", qg, relative_table(w, self.rel_pos_w))
        logits = logits.view(-1, h, w, h, w) + bias_h[..., :, None] + bias_w[..., None, :]
        probs = logits.view(-1, h * w, h * w).softmax(-1)
        out = (probs @ v).view(b, self.heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, c)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_ratio, window, grid):
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, window if window else grid)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio))

    def attend(self, x):
        if not self.window:
            return self.attn(x)
        s = self.window
        b, h, w, c = x.shape
        ph, pw = -h % s, -w % s
        x = F.pad(x, (0, 0, 0, pw, 0, ph))
        hp, wp = h + ph, w + pw
        tiles = x.view(b, hp // s, s, wp // s, s, c).transpose(2, 3).reshape(-1, s, s, c)
        tiles = self.attn(tiles)
        x = tiles.view(b, hp // s, wp // s, s, s, c).transpose(2, 3).reshape(b, hp, wp, c)
        return x[:, :h, :w]

    def forward(self, x):
        x = x + self.attend(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x):
        return self.proj(x).permute(0, 2, 3, 1)


class ImageEncoderViT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim, grid = cfg["embed_dim"], cfg["img_size"] // cfg["patch"]
        self.patch_embed = PatchEmbed(cfg["patch"], cfg.get("in_chans", 3), dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, dim))
        self.blocks = nn.ModuleList(
            Block(dim, cfg["heads"], cfg.get("mlp_ratio", 4.0),
                  0 if i in cfg["global_idx"] else cfg["window"], grid)
            for i in range(cfg["depth"]))
        out = cfg["prompt_dim"]
        self.neck = nn.Sequential(nn.Conv2d(dim, out, 1, bias=False), LayerNorm2d(out),
                                  nn.Conv2d(out, out, 3, padding=1, bias=False), LayerNorm2d(out))

    def forward(self, x):
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.neck(x.permute(0, 3, 1, 2))


VIT_B = dict(img_size=1024, patch=16, embed_dim=768, depth=12, heads=12, window=14,
             global_idx=[2, 5, 8, 11], prompt_dim=256)


def dump(args):
    cfg = json.loads(open(args.config).read())
    torch.manual_seed(args.seed)
    model = ImageEncoderViT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():  # non-trivial values everywhere, rel_pos and norms included
            p.copy_(torch.randn_like(p) * (0.5 / math.sqrt(max(p[0].numel(), 1))) + (p == 1) * 1.0)
        x = torch.randn(args.batch, cfg.get("in_chans", 3), cfg["img_size"], cfg["img_size"])
        y = model(x)
    out = {"image_encoder." + k: v for k, v in model.state_dict().items()}
    out.update({"input": x, "output": y})
    torch.save(out, args.out)


def bench(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = ImageEncoderViT(VIT_B).eval()
    print(f"python torch {torch.__version__}, threads {torch.get_num_threads()}")
    with torch.no_grad():
        for batch in args.batch:
            x = torch.randn(batch, 3, 1024, 1024)
            for _ in range(args.warmup):
                model(x)
            times = []
            for _ in range(args.iters):
                t0 = time.perf_counter()
                model(x)
                times.append((time.perf_counter() - t0) * 1000 / batch)
            print(f"python ViT-B 1024x1024 fp32 cpu batch {batch}: "
                  f"{min(times):.1f} ms/image (min), {sorted(times)[len(times) // 2]:.1f} (median)"
                  f" over {args.iters}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--config", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--batch", type=int, default=2)
    d.add_argument("--out", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--threads", type=int, default=2)
    b.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    b.add_argument("--warmup", type=int, default=1)
    b.add_argument("--iters", type=int, default=3)
    args = ap.parse_args()
    dump(args) if args.cmd == "dump" else bench(args)


if __name__ == "__main__":
    main()
