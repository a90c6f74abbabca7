"""The Keyword Transformer (Berg et al., Interspeech 2021; Paper III), spec kws_fl.md 3.1-3.2.

Input: 98 x 40 MFCC (time x coefficient); every time frame is one token (Linear 40 -> d).
A learnable class token (and, for distillation, a distillation token after it) is prepended
and a learnable position embedding added. ``depth`` PostNorm blocks follow:
x~ = LN(x + MSA(x)), x = LN(x~ + MLP(x~)), LayerNorm eps 1e-6; Q, K, V without bias, output
projection with bias, heads of size d / heads; MLP Linear -> exact GELU -> Linear. The head is
one Linear on the class token's output (and one on the distillation token's; inference
averages the two). Init: truncated normal (std 0.02, cut at +-2 std) for every linear kernel,
the position embedding and the tokens; biases 0; LayerNorm (1, 0).

Sizes (12 classes): KWT-1 607,308, KWT-2 2,394,252, KWT-3 5,360,844 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints

INIT_STD = 0.02


@dataclass(frozen=True)
class KwtParams:
    dim: int = 64
    mlp_dim: int = 256
    heads: int = 1
    depth: int = 12
    n_classes: int = 12
    frames: int = 98
    coefficients: int = 40
    distill: bool = False

    def __post_init__(self) -> None:
        require_positive_ints(self, ("dim", "mlp_dim", "heads", "depth", "n_classes", "frames",
                                     "coefficients"))
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")


KWT_SIZES = {"kwt-1": KwtParams(64, 256, 1), "kwt-2": KwtParams(128, 512, 2),
             "kwt-3": KwtParams(192, 768, 3)}


class PostNormBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)

    def attention(self, x: Tensor) -> Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))

    def forward(self, x: Tensor) -> Tensor:
        x = self.norm1(x + self.attention(x))
        return self.norm2(x + self.mlp(x))


def _init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class KWT(nn.Module):
    """``forward(mfcc [B, frames, coefficients]) -> logits [B, n_classes]`` (with distillation
    in training mode: ``(class logits, distillation logits)``)."""

    def __init__(self, params: KwtParams = KwtParams()) -> None:
        super().__init__()
        self.params = p = params
        n_tokens = 2 if p.distill else 1
        self.embed = nn.Linear(p.coefficients, p.dim)
        self.class_token = nn.Parameter(torch.zeros(1, 1, p.dim))
        self.dist_token = nn.Parameter(torch.zeros(1, 1, p.dim)) if p.distill else None
        self.pos = nn.Parameter(torch.zeros(1, p.frames + n_tokens, p.dim))
        self.blocks = nn.ModuleList(PostNormBlock(p.dim, p.heads, p.mlp_dim)
                                    for _ in range(p.depth))
        self.head = nn.Linear(p.dim, p.n_classes)
        self.dist_head = nn.Linear(p.dim, p.n_classes) if p.distill else None
        self.apply(_init)
        for tensor in (self.class_token, self.dist_token, self.pos):
            if tensor is None:
                continue
            nn.init.trunc_normal_(tensor, std=INIT_STD, a=-2 * INIT_STD, b=2 * INIT_STD)

    def features(self, mfcc: Tensor) -> Tensor:
        x = self.embed(mfcc)
        tokens = [self.class_token] + ([self.dist_token] if self.dist_token is not None else [])
        x = torch.cat([t.expand(len(x), -1, -1) for t in tokens] + [x], dim=1) + self.pos
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, mfcc: Tensor):
        x = self.features(mfcc)
        logits = self.head(x[:, 0])
        if self.dist_head is None:
            return logits
        dist = self.dist_head(x[:, 1])
        return (logits, dist) if self.training else (logits + dist) / 2

    def parameter_count(self) -> int:
        return sum(q.numel() for q in self.parameters() if q.requires_grad)
