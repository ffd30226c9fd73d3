"""U-Net (Ronneberger et al. 2015) with BatchNorm and ReLU (docs/ARCHITECTURE.md section 7).

Input normalisation, padding to a multiple of 2^depth and cropping back come from
framing.FramedSegmenter, as for every backend: callers, and every attack, work in [0, 1] pixel
space, skip connections always line up, and any tile size works with either upsampling mode.

An optional input quantisation (``input_bits``: bit-depth reduction, one of the "feature
squeezing" defences of Xu et al., NDSS 2018) rounds pixels to 2^bits levels before anything else.
Rounding has a zero gradient almost everywhere, so gradient attacks see no signal: it is the
textbook case of gradient masking (Athalye et al., ICML 2018), there to show that the trust
checks catch it, not to defend anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .framing import FramedSegmenter

UPSAMPLING_MODES = ("bilinear", "transposed_conv")


class DoubleConv(nn.Sequential):
    """(3x3 conv, BatchNorm, ReLU) twice; the conv bias is redundant before BatchNorm."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """Double the resolution, halve the channels, concatenate the skip, DoubleConv."""

    def __init__(self, in_channels: int, out_channels: int, mode: str) -> None:
        super().__init__()
        if mode == "bilinear":
            self.up = nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                nn.Conv2d(in_channels, out_channels, 1),
            )
        elif mode == "transposed_conv":
            self.up = nn.ConvTranspose2d(in_channels, out_channels, 2, stride=2)
        else:
            raise ValueError(f"unknown upsampling mode {mode!r}")
        self.conv = DoubleConv(2 * out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


class UNet(FramedSegmenter):
    def __init__(
        self,
        num_classes: int,
        *,
        in_channels: int = 3,
        depth: int = 4,
        base_width: int = 64,
        upsampling: str = "bilinear",
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        input_bits: int = 0,
    ) -> None:
        super().__init__(in_channels, mean, std, pad_multiple=2**depth)
        self.depth = depth
        if not 0 <= input_bits <= 16:
            raise ValueError("input_bits must be between 0 (off) and 16")
        self.input_levels = 2**input_bits - 1 if input_bits else 0

        widths = [base_width * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(Up(widths[i + 1], widths[i], upsampling) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        # channels_last (NHWC) convolutions are markedly faster with oneDNN on CPU and with
        # cuDNN tensor cores; the module stores its weights that way and converts its input.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_levels:
            x = torch.round(x * self.input_levels) / self.input_levels
        return super().forward(x)

    def core(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        x = self.stem(x)
        for down in self.down:
            skips.append(x)
            x = down(F.max_pool2d(x, 2))
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)
        return self.head(x)
