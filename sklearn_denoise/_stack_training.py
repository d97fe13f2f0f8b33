"""Training patches of the stack network: a plane with its aligned neighbours.

:class:`StackPatches` is :class:`~sklearn_denoise._training.PatchDataset` on volumes: a
patch is a crop of one plane of one volume, with the same crop of its ``context_planes``
neighbours (chosen near the ends and shifted onto the plane as
:mod:`sklearn_denoise._stack` does at inference) as extra channels. The noise
(synthetic mode) is drawn on every plane independently, the blind-spot mask
(self-supervised mode) is put on the plane only -- its neighbours carry their own noise,
so they cannot leak the masked pixels' -- and the target is the plane. The patch is handed
to the network in the stack network's input order: the plane, its noise level, the
neighbours.
"""

import numpy as np
import torch

from ._stack import neighbour_sources, plane_positions
from ._training import PatchDataset

__all__ = ["StackPatches"]


class StackPatches(PatchDataset):
    """Random training patches of (Z, H, W, C) volumes for a stack network.

    Parameters as :class:`PatchDataset`'s, with ``inputs`` (and ``targets``) lists of
    volumes and ``context_planes`` the neighbours the network sees.
    """

    def __init__(self, inputs, targets, *, context_planes, **kwargs):
        super().__init__(inputs, targets, **kwargs)
        self.context_planes = context_planes
        patch_size = kwargs["patch_size"]
        self.patch = (min(patch_size, *(v.shape[1] for v in inputs)),
                      min(patch_size, *(v.shape[2] for v in inputs)))
        self.positions = [plane_positions(v) for v in inputs]
        self.channels = inputs[0].shape[-1]

    def _crop(self, idx):
        rng = self.rng
        i = idx % len(self.inputs)
        volume = self.inputs[i]
        n_planes, height, width = volume.shape[:3]
        ph, pw = self.patch
        z = int(rng.integers(n_planes))
        top = int(rng.integers(0, height - ph + 1))
        left = int(rng.integers(0, width - pw + 1))
        rows, cols = np.arange(top, top + ph), np.arange(left, left + pw)
        planes = [volume[z, top: top + ph, left: left + pw]]
        for source in neighbour_sources(z, n_planes, self.context_planes):
            dy, dx = self.positions[i][source] - self.positions[i][z]
            # the crop of the neighbour shifted onto plane z, its edge repeated
            planes.append(volume[source][np.ix_(np.clip(rows - dy, 0, height - 1),
                                                np.clip(cols - dx, 0, width - 1))])
        x = np.concatenate(planes, axis=-1)
        y = (self.targets[i][z, top: top + ph, left: left + pw]
             if self.targets is not None else None)
        k = int(rng.integers(4)) if ph == pw else 2 * int(rng.integers(2))
        x, y = np.rot90(x, k), (np.rot90(y, k) if y is not None else None)
        if rng.integers(2):
            x, y = x[:, ::-1], (y[:, ::-1] if y is not None else None)
        return i, x, y

    def _mask(self, x, rng):
        c = self.channels
        masked, target = super()._mask(x[..., :c], rng)
        return np.concatenate([masked, x[..., c:]], axis=-1), target

    def __getitem__(self, idx):
        net_in, target = super().__getitem__(idx)
        c = self.channels
        if self.mode == "self_supervised":  # the plane and the mask
            target = torch.cat([target[:c], target[-1:]])
        else:
            target = target[:c]
        if net_in.shape[0] > c * (1 + self.context_planes):  # a noise-level channel, last
            net_in = torch.cat([net_in[:c], net_in[-1:], net_in[c:-1]])
        return net_in, target

