"""U-Net (Ronneberger et al. 2015) with BatchNorm and ReLU (DESIGN section 6).

Input normalisation is part of the model (fixed per-channel mean/std buffers), so callers, and
every attack, work in [0, 1] pixel space where epsilon is a fraction of the pixel range.
An optional input quantisation (``input_bits``: bit-depth reduction, one of the "feature
squeezing" defences of Xu et al., NDSS 2018) rounds pixels to 2^bits levels before anything else.
Rounding has a zero gradient almost everywhere, so gradient attacks see no signal: it is the
textbook case of gradient masking (Athalye et al., ICML 2018), there to show that the trust
checks catch it, not to defend anything.
Tiles whose sides are not a multiple of 2^depth are padded (reflect) up to one before the
encoder and the logits are cropped back, so skip connections always line up and any tile size
works with either upsampling mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

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


class UNet(nn.Module):
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
        super().__init__()
        self.depth = depth
        if not 0 <= input_bits <= 16:
            raise ValueError("input_bits must be between 0 (off) and 16")
        self.input_levels = 2**input_bits - 1 if input_bits else 0
        mean = torch.tensor(mean if mean is not None else [0.5] * in_channels, dtype=torch.float32)
        std = torch.tensor(std if std is not None else [0.5] * in_channels, dtype=torch.float32)
        if mean.shape != (in_channels,) or std.shape != (in_channels,) or (std <= 0).any():
            raise ValueError("mean and std need one value per input channel, std > 0")
        # Buffers, not parameters: saved with the weights, never trained, moved with .to().
        self.register_buffer("input_mean", mean.view(1, -1, 1, 1))
        self.register_buffer("input_std", std.view(1, -1, 1, 1))

        widths = [base_width * 2**i for i in range(depth + 1)]
        self.stem = DoubleConv(in_channels, widths[0])
        self.down = nn.ModuleList(DoubleConv(widths[i], widths[i + 1]) for i in range(depth))
        self.up = nn.ModuleList(Up(widths[i + 1], widths[i], upsampling) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        # channels_last (NHWC) convolutions are markedly faster with oneDNN on CPU and with
        # cuDNN tensor cores; the module stores its weights that way and converts its input.
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, C, H, W) pixels in [0, 1] -> logits (N, num_classes, H, W)."""
        h, w = x.shape[-2:]
        if self.input_levels:
            x = torch.round(x * self.input_levels) / self.input_levels
        x = (x - self.input_mean) / self.input_std
        multiple = 2**self.depth
        pad_h, pad_w = -h % multiple, -w % multiple
        if pad_h or pad_w:
            # Reflect keeps image statistics at the border; it needs the pad to be smaller than
            # the side, which replicate does not.
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        x = x.contiguous(memory_format=torch.channels_last)
        skips = []
        x = self.stem(x)
        for down in self.down:
            skips.append(x)
            x = down(F.max_pool2d(x, 2))
        for up, skip in zip(self.up, reversed(skips)):
            x = up(x, skip)
        return self.head(x)[..., :h, :w]
