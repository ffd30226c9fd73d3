"""What every backend's model does around its network, in one place: input normalisation inside
the model, padding to the network's stride, cropping the logits back.

Callers (training, every attack, evaluation, export) hand a model [0, 1] pixels (N, C, H, W) of
any tile size and get logits (N, num_classes, H, W). Because normalisation is part of the model
(fixed per-channel mean/std buffers from the training data), epsilon stays a fraction of the
pixel range for every backend, and an exported model takes raw pixels too.

Padding: reflect, up to the next multiple of the network's total stride (and at least the
network's minimum side). Reflection keeps the image statistics at the border, where zeros would
add a dark frame the network never saw in training (with per-channel normalisation a zero pad
is an out-of-distribution colour). Reflection needs the pad to be smaller than the side; when it
is not (a tile smaller than the stride), replicate is used. The pad is applied even when it is
zero, so the exported ONNX graph has no shape-dependent branch and keeps H and W dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def padded_side(side: int, multiple: int, min_side: int) -> int:
    """The side the network sees: at least `min_side`, rounded up to `multiple`."""
    side = max(side, min_side)
    return side + (-side % multiple)


class FramedSegmenter(nn.Module):
    """Base class: normalise, pad, `core`, crop. Subclasses implement `core` on the padded,
    normalised input; `pad_multiple` and `min_side` describe what their network needs.
    `dynamic_spatial_export`: the network's traced graph keeps H and W symbolic, so an ONNX
    export may leave them dynamic (export.py; the export tests check it at a second size)."""

    dynamic_spatial_export = True

    def __init__(self, in_channels: int, mean: Sequence[float] | None, std: Sequence[float] | None,
                 pad_multiple: int = 1, min_side: int = 1) -> None:
        super().__init__()
        mean_t = torch.tensor(mean if mean is not None else [0.5] * in_channels, dtype=torch.float32)
        std_t = torch.tensor(std if std is not None else [0.5] * in_channels, dtype=torch.float32)
        if mean_t.shape != (in_channels,) or std_t.shape != (in_channels,) or (std_t <= 0).any():
            raise ValueError("mean and std need one value per input channel, std > 0")
        # Buffers, not parameters: saved with the weights, never trained, moved with .to().
        self.register_buffer("input_mean", mean_t.view(1, -1, 1, 1))
        self.register_buffer("input_std", std_t.view(1, -1, 1, 1))
        if pad_multiple < 1 or min_side < 1:
            raise ValueError("pad_multiple and min_side must be >= 1")
        self.pad_multiple = int(pad_multiple)
        self.min_side = int(min_side)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) pixels in [0, 1] -> logits (N, num_classes, H, W)."""
        h, w = x.shape[-2:]
        x = (x - self.input_mean) / self.input_std
        pad_h = padded_side(h, self.pad_multiple, self.min_side) - h
        pad_w = padded_side(w, self.pad_multiple, self.min_side) - w
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        return self.core(x)[..., :h, :w]


class FramedNetwork(FramedSegmenter):
    """A third-party network (smp, MONAI) framed: its weights live under `net.`."""

    def __init__(self, net: nn.Module, in_channels: int, mean: Sequence[float] | None,
                 std: Sequence[float] | None, pad_multiple: int, min_side: int = 1,
                 channels_last: bool = False, dynamic_spatial_export: bool = True) -> None:
        super().__init__(in_channels, mean, std, pad_multiple, min_side)
        self.net = net
        self.dynamic_spatial_export = dynamic_spatial_export
        self.channels_last = channels_last
        if channels_last:
            # NHWC convolutions are markedly faster with oneDNN on CPU and with cuDNN.
            self.net.to(memory_format=torch.channels_last)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.net(x)
