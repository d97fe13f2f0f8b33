"""PyTorch modules behind CNNDenoiser.

Both networks are fully convolutional and residual: they take a noisy image batch
``(N, C [+ 1], H, W)`` (the optional extra channel is a noise-level map) and return the
clean estimate ``(N, C, H, W)``. Any ``H, W`` is accepted; padding to the network's stride
is handled here.
"""

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DnCNN", "N2V2UNet", "UNet", "build_module", "receptive_radius"]


class DnCNN(nn.Module):
    """DnCNN (Zhang et al., 2017): conv-BN-ReLU stack predicting the noise (residual).

    Parameters
    ----------
    channels : int
        Image channels.
    depth : int
        Number of convolution layers (17 in the paper).
    width : int
        Feature channels (64 in the paper).
    noise_level_input : bool
        Whether an extra input channel carries a noise-level map.
    """

    def __init__(self, channels=1, depth=17, width=64, noise_level_input=False):
        super().__init__()
        in_channels = channels + int(noise_level_input)
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [
                nn.Conv2d(width, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, x):
        return x[:, : self.channels] - self.body(x)


class _ResBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x), inplace=True))
        out += x  # in place: one full-size activation fewer alive on large images
        return out


class UNet(nn.Module):
    """Multi-scale residual U-Net (DRUNet-like, without the noise map by default).

    ``depth`` levels of widths ``width * 2**k``; each level has ``blocks`` residual blocks,
    the bottom ``bottom_blocks`` (default ``2 * blocks``); strided 2x2 convolutions down,
    transposed convolutions up, additive skips, and a global residual connection.

    Parameters
    ----------
    channels : int
        Image channels.
    depth : int
        Number of levels (3 downsamplings for 4).
    width : int
        Feature channels of the first level.
    blocks : int
        Residual blocks per level.
    noise_level_input : bool
        Whether an extra input channel carries a noise-level map.
    bottom_blocks : int or None
        Residual blocks at the bottom level; None for ``2 * blocks``. The bottom holds
        most of the parameters (widest level) for a small share of the computation.
    top_width : int or None
        Feature channels of the first (full-resolution) level only; None for ``width``.
        The first level holds few parameters for a large share of the computation.
    context_planes : int
        Neighbouring planes of a stack (z-stack, time series) given as extra input
        channels after the image and its noise map, ``channels`` each; the output is the
        centre plane. 0 for single images. :func:`add_context_planes` turns the weights of
        a network without them into one that computes the same output.
    """

    def __init__(self, channels=1, depth=4, width=16, blocks=1, noise_level_input=False,
                 bottom_blocks=None, top_width=None, context_planes=0):
        super().__init__()
        in_channels = channels * (1 + context_planes) + int(noise_level_input)
        widths = [width * 2**k for k in range(depth)]
        if top_width is not None:
            widths[0] = top_width
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in range(depth - 1):
            self.down.append(
                nn.Sequential(
                    *[_ResBlock(widths[k]) for _ in range(blocks)],
                    nn.Conv2d(widths[k], widths[k + 1], 2, stride=2),
                )
            )
        if bottom_blocks is None:
            bottom_blocks = 2 * blocks
        self.bottom = nn.Sequential(*[_ResBlock(widths[-1]) for _ in range(bottom_blocks)])
        for k in reversed(range(depth - 1)):
            self.up.append(
                nn.ModuleDict(
                    {
                        "upsample": nn.ConvTranspose2d(widths[k + 1], widths[k], 2, stride=2),
                        "blocks": nn.Sequential(*[_ResBlock(widths[k]) for _ in range(blocks)]),
                    }
                )
            )
        self.tail = nn.Conv2d(widths[0], channels, 3, padding=1)
        self.channels = channels
        self.multiple = 2 ** (depth - 1)
        self.noise_level_input = bool(noise_level_input)
        self.context_planes = context_planes

    def forward(self, x):
        height, width = x.shape[-2:]
        x, h, skips = _encode(self, x)
        for up in self.up:
            h = up["upsample"](h)
            h += skips.pop()  # dropped once used
            h = up["blocks"](h)
        out = x[:, : self.channels] + self.tail(h)
        return out[..., :height, :width]


class _MaxBlurDown(nn.Module):
    """Downsampling by 2 without aliasing (Zhang 2019, as in N2V2): a 2x2 max over each
    pixel's neighbourhood at full resolution, a [1, 2, 1] binomial blur taken every
    second pixel, then a 1x1 convolution to the next level's width."""

    def __init__(self, width_in, width_out, max_first=True):
        super().__init__()
        kernel = torch.tensor([1.0, 2.0, 1.0])
        kernel = torch.outer(kernel, kernel) / 16
        self.register_buffer("blur", kernel.expand(width_in, 1, 3, 3).contiguous(),
                             persistent=False)
        self.max_first = max_first
        self.conv = nn.Conv2d(width_in, width_out, 1)

    def forward(self, x):
        if self.max_first:
            x = F.max_pool2d(F.pad(x, (0, 1, 0, 1), mode="replicate"), 2, stride=1)
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), self.blur, stride=2,
                     groups=x.shape[1])
        return self.conv(x)


class N2V2UNet(nn.Module):
    """U-Net for blind-spot (Noise2Void) training, after N2V2 (Hoeck et al. 2022).

    The :class:`UNet`'s levels and residual blocks, with three changes that matter when the
    loss only sees masked pixels: no global residual connection (the output is not the
    input plus a correction, which would pass each pixel's own noise through at transform
    time, when the pixel is no longer masked), max-blur-pool downsampling instead of
    strided convolutions and bilinear upsampling instead of transposed convolutions (no
    checkerboard artefacts), and no skip connection at the full-resolution level (the
    output's first level sees the input only through the coarser levels and its own
    blocks).

    Parameters
    ----------
    channels, depth, width, blocks, noise_level_input, bottom_blocks, top_width
        As for :class:`UNet`.
    residual : bool, default=False
        Add the input to the output (the UNet's global residual connection).
    blur_pool : bool, default=True
        Max-blur-pool downsampling; False: the UNet's strided 2x2 convolutions.
    top_skip : bool, default=False
        Keep the skip connection of the full-resolution level.
    """

    def __init__(self, channels=1, depth=4, width=16, blocks=2, noise_level_input=False,
                 bottom_blocks=None, top_width=None, residual=False, blur_pool=True,
                 top_skip=False):
        super().__init__()
        in_channels = channels + int(noise_level_input)
        widths = [width * 2**k for k in range(depth)]
        if top_width is not None:
            widths[0] = top_width
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.down = nn.ModuleList()
        self.up = nn.ModuleList()
        for k in range(depth - 1):
            down = (_MaxBlurDown(widths[k], widths[k + 1]) if blur_pool
                    else nn.Conv2d(widths[k], widths[k + 1], 2, stride=2))
            self.down.append(
                nn.Sequential(*[_ResBlock(widths[k]) for _ in range(blocks)], down))
        if bottom_blocks is None:
            bottom_blocks = 2 * blocks
        self.bottom = nn.Sequential(*[_ResBlock(widths[-1]) for _ in range(bottom_blocks)])
        for k in reversed(range(depth - 1)):
            self.up.append(
                nn.ModuleDict(
                    {
                        # 1x1 at the coarse level, then bilinear: the same linear map as
                        # upsampling first, at a quarter of the cost
                        "narrow": nn.Conv2d(widths[k + 1], widths[k], 1),
                        "blocks": nn.Sequential(*[_ResBlock(widths[k]) for _ in range(blocks)]),
                    }
                )
            )
        self.tail = nn.Conv2d(widths[0], channels, 3, padding=1)
        self.channels = channels
        self.multiple = 2 ** (depth - 1)
        self.residual = residual
        self.top_skip = top_skip

    def forward(self, x):
        height, width = x.shape[-2:]
        x, h, skips = _encode(self, x)
        for level, up in enumerate(self.up, start=1):
            h = F.interpolate(up["narrow"](h), scale_factor=2, mode="bilinear",
                              align_corners=False)
            skip = skips.pop()
            if level < len(self.up) or self.top_skip:
                h = h + skip
            h = up["blocks"](h)
        out = self.tail(h)
        if self.residual:
            out = out + x[:, : self.channels]
        return out[..., :height, :width]


def _encode(net, x):
    """The contracting half shared by the U-Nets: ``x`` padded to the grid, the bottom
    level's features and the features of each level above it (the skips)."""
    x = _pad_to_multiple(x, net.multiple)
    h = net.head(x)
    skips = []
    for down in net.down:
        skips.append(h)
        h = down(h)
    return x, net.bottom(h), skips


def _pad_to_multiple(x, multiple):
    height, width = x.shape[-2:]
    pad_h = (-height) % multiple
    pad_w = (-width) % multiple
    if not pad_h and not pad_w:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class NoiseLevelNet(nn.Module):
    """Noise-level estimator: noisy image -> map of the noise standard deviation.

    A plain convolutional network (``depth`` 3x3 convolutions of ``width`` channels, ReLU;
    the second and third downsample by 2) whose output is the logarithm of the noise
    standard deviation at a quarter of the resolution; trained on
    :class:`sklearn_denoise.noise.Degradation` patches, it sees correlated and JPEG-compressed
    noise that a white-noise (wavelet) estimate misses.

    Parameters
    ----------
    channels : int
        Image channels (each gets its own level).
    depth : int
        Convolutions, >= 3.
    width : int
        Feature channels.
    """

    def __init__(self, channels=1, depth=6, width=32):
        super().__init__()
        layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        for k in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, stride=2 if k < 2 else 1, padding=1),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        self.channels = channels

    def forward(self, x):
        """(n, C, H, W) image -> (n, C, ~H/4, ~W/4) log noise standard deviation."""
        return self.body(x)


_MODULES = {"unet": UNet, "n2v2": N2V2UNet, "dncnn": DnCNN, "noise-level": NoiseLevelNet}


def module_class(architecture):
    """The torch module class of an architecture name."""
    return _MODULES[architecture]


def module_kwargs(config):
    """The constructor arguments of the module a validated configuration describes (what
    a skorch net takes as ``module__`` parameters)."""
    kwargs = {key: config[key] for key in ("channels", "depth", "width")}
    if config["architecture"] in ("unet", "n2v2"):
        kwargs["blocks"] = config["blocks"]
        for key in ("bottom_blocks", "top_width", "context_planes"):  # absent from older files
            if config.get(key) is not None:
                kwargs[key] = config[key]
    if config["architecture"] in ("unet", "n2v2", "dncnn"):
        kwargs["noise_level_input"] = config["noise_level_input"]
    return kwargs


def build_module(architecture, channels, depth, width, blocks, noise_level_input,
                 bottom_blocks=None, top_width=None, context_planes=None):
    """Instantiate the module for a validated configuration."""
    config = {"architecture": architecture, "channels": channels, "depth": depth,
              "width": width, "blocks": blocks, "noise_level_input": noise_level_input,
              "bottom_blocks": bottom_blocks, "top_width": top_width,
              "context_planes": context_planes}
    return module_class(architecture)(**module_kwargs(config))


def add_context_planes(state_dict, context_planes):
    """The weights of a U-Net that also sees ``context_planes`` more neighbouring planes,
    from those of one that sees fewer (or none): the first convolution gets zero weights
    for the new input channels, appended after the existing ones (the input order puts
    the nearest neighbours first), so the new network's output equals the old one's
    until it is trained.

    Parameters
    ----------
    state_dict : dict of str to Tensor
        Weights of a :class:`UNet`.
    context_planes : int
        Neighbouring planes to add.

    Returns
    -------
    state_dict : dict of str to Tensor
        A copy, with ``head.weight`` widened.
    """
    state = dict(state_dict)
    head = state["head.weight"]
    channels = state["tail.weight"].shape[0]
    extra = head.new_zeros((head.shape[0], channels * context_planes) + tuple(head.shape[2:]))
    state["head.weight"] = torch.cat([head, extra], dim=1)
    return state


class StackInput(nn.Module):
    """A stack network fed as the 2-D inference feeds a network: the input
    ``[plane, neighbours..., noise level]`` (the image's channels, then the noise-level
    map) reordered into the ``[plane, noise level, neighbours...]`` the :class:`UNet`
    with ``context_planes`` was trained on. Holds no weights of its own."""

    def __init__(self, module):
        super().__init__()
        self.module = module
        self.channels = module.channels
        self.multiple = module.multiple

    def forward(self, x):
        c = self.channels
        if self.module.noise_level_input:
            x = torch.cat([x[:, :c], x[:, -1:], x[:, c:-1]], dim=1)
        return self.module(x)


def receptive_radius(architecture, depth, blocks, bottom_blocks=None):
    """Pixels of context on each side that influence one output pixel."""
    if architecture == "dncnn":
        return depth
    radius = 1  # head
    scale = 1
    for _ in range(depth - 1):
        radius += scale * 4 * blocks  # residual blocks: two 3x3 convs each
        # 2x2 stride-2 conv; N2V2: 2x2 max (stride 1) and 3x3 blur (stride 2)
        radius += 2 * scale if architecture == "n2v2" else scale
        scale *= 2
    radius += scale * 4 * (2 * blocks if bottom_blocks is None else bottom_blocks)  # bottom
    for _ in range(depth - 1):
        scale //= 2
        radius += scale * (1 + 4 * blocks)  # transposed conv or bilinear upsampling, blocks
    return radius + 1  # tail
