"""Analytic multiply-accumulate (MAC) counts of :class:`~perloc.methods.points.point_tnt.
PointTnT` and :class:`~perloc.methods.points.point_tnt.Baseline` for one cloud of N points.

Counted: every Linear as ``tokens x in x out``; per attention layer of T tokens, h heads of
width d_h, the scores ``q k^T`` and the weighted sum ``A v``, ``T^2 d_h`` each per head.
Ignored: biases, norms, activations, softmax, pooling, residual adds, FPS and kNN (no MACs in
a network sense). A disabled attention sub-layer (ablation) costs nothing.

Point-TnT (M anchors, k neighbours, d_E, d_Y, L blocks, d_f, C classes):
  edge embedding ``M k 3 d_E``; anchor embedding ``M 3 d_Y``;
  per block: local layer on M patches of k tokens (``M k`` tokens of width d_E), edge pooling
  ``M 2 d_E d_Y``, global layer on M tokens of width d_Y;
  embedding ``M L d_Y d_f``; classifier ``2 d_f 512 + 512 256 + 256 C``.
Transformer layer on T tokens of width D (per sequence): qkv ``T D 3 h d_h``, attention
``2 h T^2 d_h``, output ``T h d_h D``, MLP ``2 T D 4 D``.
Baseline: the same with N point tokens, no local branch.

At N = 1024 (spec §4.3, 15 classes): TnT-3 1,179,737,856 (1.18 G; the paper reports 1.19
GFLOPs), Baseline 4,229,631,744 (4.23 G; reported 4.33); TnT-1 402,669,312 (0.40 G; the spec
rounds to 0.41) and TnT-2 753,454,848 (0.75 G; spec 0.76), where the paper reports 0.80 and
0.97 GFLOPs (not reproduced by a plain count; gotcha 18).
"""

from __future__ import annotations

from perloc.methods.points.point_tnt import MLP_RATIO, PointTnTConfig

__all__ = ["baseline_macs", "classifier_macs", "point_tnt_macs", "transformer_layer_macs"]


def transformer_layer_macs(tokens: int, dim: int, heads: int, dim_head: int,
                           attention: bool = True) -> int:
    """MACs of one pre-norm layer on one sequence of ``tokens`` tokens of width ``dim``."""
    inner = heads * dim_head
    mlp = 2 * tokens * dim * MLP_RATIO * dim
    if not attention:
        return mlp
    return tokens * dim * 3 * inner + 2 * heads * tokens ** 2 * dim_head + tokens * inner * dim + mlp


def classifier_macs(c: PointTnTConfig) -> int:
    """Embedding-free classifier ``2 d_f -> 512 -> 256 -> C``."""
    return 2 * c.emb_dims * 512 + 512 * 256 + 256 * c.n_classes


def point_tnt_macs(c: PointTnTConfig, n_points: int | None = None) -> int:
    """MACs of :class:`PointTnT` with config ``c`` for one cloud (N does not enter: only the M
    anchors and their k neighbours are processed; ``n_points`` is accepted for symmetry)."""
    m, k = c.anchors, c.k
    local = m * transformer_layer_macs(k, c.point_dim, c.heads, c.dim_head, c.local_attention)
    pool = m * 2 * c.point_dim * c.patch_dim
    glob = transformer_layer_macs(m, c.patch_dim, c.heads, c.dim_head, c.global_attention)
    embed = m * k * 3 * c.point_dim + m * 3 * c.patch_dim
    head = m * c.depth * c.patch_dim * c.emb_dims + classifier_macs(c)
    return embed + c.depth * (local + pool + glob) + head


def baseline_macs(c: PointTnTConfig, n_points: int | None = None) -> int:
    """MACs of :class:`Baseline` with config ``c`` for one cloud of ``n_points`` (default
    ``c.n_points``) points."""
    n = c.n_points if n_points is None else n_points
    layer = transformer_layer_macs(n, c.patch_dim, c.heads, c.dim_head, c.global_attention)
    head = n * c.depth * c.patch_dim * c.emb_dims + classifier_macs(c)
    return n * 3 * c.patch_dim + c.depth * layer + head
