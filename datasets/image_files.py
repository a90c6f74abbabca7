"""Image files for the ordinal-regression datasets (UTKFace, BIWI, HCI): checks, decoding, cache.

:func:`probe_image` opens a file's header with Pillow and runs ``verify()`` (cheap: no pixel
decoding), so an adapter can check every image on construction; damage past the header
(a JPEG cut short) shows only when the pixels are decoded, and :func:`decode_rgb` then raises
the same one-line :class:`UserError` naming the file. :func:`resize_rgb` resizes uint8
[N, H, W, 3] arrays to ``side`` x ``side`` with Pillow's bilinear filter WITHOUT keeping the
aspect ratio (Paper I resizes every image to 224 x 224 that way). :class:`ImageStore` decodes
every item of a dataset once per ``side`` into a :class:`~perloc.datasets.feature_cache.
FeatureCache` keyed by (dataset, version, side), so a second call reads instead of decoding.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from perloc.bench.core.errors import UserError
from perloc.datasets.audio import require_file
from perloc.datasets.feature_cache import FeatureCache

DECODER_VERSION = "pil-bilinear-1"
_ERRORS = (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError)


def _why(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def probe_image(path: Path) -> tuple[int, int]:
    """(width, height) of an image file whose header Pillow can read and verify; else a
    UserError naming the file."""
    require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size = image.size
                image.verify()
    except (*_ERRORS, Image.DecompressionBombWarning) as exc:
        raise UserError(f"{path}: cannot read the image ({_why(exc)})") from None
    return int(size[0]), int(size[1])


def decode_rgb(path: Path, side: int | None = None) -> np.ndarray:
    """uint8 [H, W, 3] RGB pixels of ``path`` (grey replicated to three channels), resized to
    ``side`` x ``side`` (bilinear, aspect ratio not kept) unless ``side`` is None."""
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if side is not None and image.size != (side, side):
                image = image.resize((side, side), Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except _ERRORS as exc:
        raise UserError(f"{path}: cannot decode the image ({_why(exc)})") from None


def resize_rgb(pixels: np.ndarray, side: int) -> np.ndarray:
    """uint8 [N, H, W, 3] resized to [N, side, side, 3] (Pillow bilinear, aspect not kept)."""
    if pixels.shape[1:3] == (side, side):
        return np.ascontiguousarray(pixels)
    return np.stack([np.asarray(Image.fromarray(p).resize((side, side), Image.BILINEAR))
                     for p in pixels]) if len(pixels) else np.zeros((0, side, side, 3), np.uint8)


def check_side(side: int, who: str) -> int:
    if isinstance(side, bool) or not isinstance(side, (int, np.integer)) or side < 1:
        raise UserError(f"{who}: image side must be a positive integer, not {side!r}")
    return int(side)


class ImageStore:
    """Decoded images of one dataset: ``load(rows)`` gives uint8 [len(rows), 3, side, side].

    ``decode(rows, side)`` makes uint8 [len(rows), side, side, 3] (channels R, G, B). With a
    ``cache`` file every item is decoded once per side and stored under (name, version,
    side); without one, only the rows asked for are decoded, on every call."""

    def __init__(self, name: str, n_items: int, version: Callable[[], str],
                 decode: Callable[[np.ndarray, int], np.ndarray], cache: Path | None) -> None:
        self.name, self.n_items, self._version, self._decode = name, n_items, version, decode
        self.cache = FeatureCache(Path(cache)) if cache is not None else None
        self._full: dict[int, np.ndarray] = {}

    def load(self, rows, side: int) -> np.ndarray:
        side = check_side(side, self.name)
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) and (rows.min() < 0 or rows.max() >= self.n_items):
            raise UserError(f"{self.name}: row indices must lie in 0..{self.n_items - 1}")
        if self.cache is None:
            return self._decode(rows, side).transpose(0, 3, 1, 2).copy()
        if side not in self._full:
            parts = ["images", self.name, self._version(), side, DECODER_VERSION]
            self._full[side] = self.cache.get(
                parts, lambda: self._decode(np.arange(self.n_items), side).transpose(0, 3, 1, 2))
        return self._full[side][rows]


def consecutive_split(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """int64 item indices of a dataset listed as its ``n_train`` training items, then its
    ``n_test`` test items."""
    return {"train": np.arange(n_train, dtype=np.int64),
            "test": np.arange(n_train, n_train + n_test, dtype=np.int64)}
