"""MHAtt-RNN (Rybakov et al., Interspeech 2020, "Streaming keyword spotting on mobile
devices"), the teacher of the Keyword Transformer's distillation (Paper III).

Layout of kws_streaming's ``att_mh_rnn`` at the 98.4 % Speech Commands v2 config (``cnn_filters
'10,1'``, ``cnn_kernel_size '(5,1),(5,1)'``, ``rnn_type 'gru'``, ``rnn_units 128``,
``rnn_layers 2``, ``heads 4``, ``dropout1 0.2``, ``units2 '64'``, ``act2 'relu'``):

* input MFCC [B, 98, 40] -> [B, 1, 98, 40]; Conv2D 10 filters, kernel (5, 1) (time only),
  'same' padding, with bias, ReLU, then BatchNorm; Conv2D 1 filter, kernel (5, 1), 'same',
  ReLU, BatchNorm; back to [B, 98, 40].
* 2 bidirectional GRU layers of 128 units per direction (256 features per step).
* Attention from the middle step: the query is the GRU output at step T // 2 (49). Each of
  the 4 heads projects it with its own Linear(256 -> 256); the scores are its dot products
  with the (unprojected) GRU output of every step, softmax over time, and the head's output
  is the weighted sum of the GRU outputs (256). The heads are concatenated (1024).
* Dropout 0.2, Linear 1024 -> 64 + ReLU, Linear 64 -> n_classes.

The heads' 4 query projections are held as one Linear(256 -> 4 * 256); head h uses output
rows h * 256 .. (h + 1) * 256 - 1, which is the same function and parameter count as 4
separate Dense layers concatenated in order.

Init follows Keras's defaults, as the teacher was trained in Keras: Glorot-uniform kernels
(convolutions, GRU input kernels, dense layers), orthogonal GRU recurrent kernels, zero
biases, BatchNorm (1, 0). Torch's GRU (b_ih and b_hh per gate) has the same parameters as a
Keras ``reset_after=True`` GRU.

Size (trainable parameters, defaults): 756,689 with 12 classes, 758,184 with 35 classes
(Keras also counts the 22 BatchNorm moving statistics: 756,711, the paper's "750K").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from perloc.methods.checks import require_positive_ints, require_probability


@dataclass(frozen=True)
class MhattRnnParams:
    n_classes: int = 12
    conv_filters: int = 10
    conv_kernel: int = 5
    rnn_units: int = 128
    rnn_layers: int = 2
    heads: int = 4
    dense: int = 64
    dropout: float = 0.2
    frames: int = 98
    coefficients: int = 40

    def __post_init__(self) -> None:
        require_positive_ints(self, ("n_classes", "conv_filters", "conv_kernel", "rnn_units",
                                     "rnn_layers", "heads", "dense", "frames", "coefficients"))
        require_probability("dropout", self.dropout)


def conv_block(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """Conv2D over time only ((kernel, 1), 'same' padding, bias), ReLU, then BatchNorm."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, (kernel, 1), padding="same"),
                         nn.ReLU(), nn.BatchNorm2d(out_channels))


def _keras_init(module: nn.Module) -> None:
    """Keras defaults: Glorot-uniform kernels, orthogonal recurrent kernels, zero biases."""
    if isinstance(module, (nn.Linear, nn.Conv2d)):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.GRU):
        for name, weight in module.named_parameters():
            if name.startswith("weight_ih"):
                nn.init.xavier_uniform_(weight)
            elif name.startswith("weight_hh"):
                nn.init.orthogonal_(weight)
            else:
                nn.init.zeros_(weight)


class MhattRnn(nn.Module):
    """``forward(mfcc [B, frames, coefficients]) -> logits [B, n_classes]``."""

    def __init__(self, params: MhattRnnParams = MhattRnnParams()) -> None:
        super().__init__()
        self.params = p = params
        self.convs = nn.Sequential(conv_block(1, p.conv_filters, p.conv_kernel),
                                   conv_block(p.conv_filters, 1, p.conv_kernel))
        self.rnn = nn.GRU(p.coefficients, p.rnn_units, num_layers=p.rnn_layers,
                          batch_first=True, bidirectional=True)
        feature = 2 * p.rnn_units
        self.queries = nn.Linear(feature, p.heads * feature)
        self.head = nn.Sequential(nn.Dropout(p.dropout), nn.Linear(p.heads * feature, p.dense),
                                  nn.ReLU(), nn.Linear(p.dense, p.n_classes))
        self.apply(_keras_init)

    def _check_input(self, mfcc: Tensor) -> None:
        expected = (self.params.frames, self.params.coefficients)
        if mfcc.dim() != 3 or tuple(mfcc.shape[1:]) != expected:
            raise ValueError(f"mfcc must be [B, {expected[0]}, {expected[1]}], "
                             f"got {list(mfcc.shape)}")

    def sequence(self, mfcc: Tensor) -> Tensor:
        """The GRU outputs [B, T, 2 * rnn_units] after the two time convolutions."""
        self._check_input(mfcc)
        x = self.convs(mfcc.unsqueeze(1)).squeeze(1)
        return self.rnn(x)[0]

    def _weights(self, seq: Tensor) -> Tensor:
        """Softmax over time of each head's projected middle query against ``seq``."""
        b, t, d = seq.shape
        query = self.queries(seq[:, t // 2]).view(b, self.params.heads, d)
        return torch.softmax(torch.einsum("bhd,btd->bht", query, seq), dim=-1)

    def attention_weights(self, mfcc: Tensor) -> Tensor:
        """Each head's attention over time, [B, heads, T] (sums to 1 over T)."""
        return self._weights(self.sequence(mfcc))

    def features(self, mfcc: Tensor) -> Tensor:
        """The concatenated head outputs [B, heads * 2 * rnn_units] (before dropout)."""
        seq = self.sequence(mfcc)
        context = torch.einsum("bht,btd->bhd", self._weights(seq), seq)
        return context.flatten(1)

    def forward(self, mfcc: Tensor) -> Tensor:
        return self.head(self.features(mfcc))

    def parameter_count(self) -> int:
        return sum(q.numel() for q in self.parameters() if q.requires_grad)
