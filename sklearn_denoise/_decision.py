"""What a denoiser decides from the content of an image, made once and kept.

``transform`` reads several things off each image before it denoises it: the map onto
[0, 1] (:mod:`sklearn_denoise._normalize`), the noise (a white Gaussian level, or a
Poisson-Gaussian model, :mod:`sklearn_denoise._sensor`), for the CNN whether its
correlated-noise expert runs, and for the wavelet its thresholds. An
:class:`ImageDecision` holds them. Every denoiser's ``for_image(image)`` returns a copy of
itself with the decision for ``image`` fixed (its ``decision_``): transforming the image
with that copy gives ``transform``'s own result, and transforming a tile, a dask chunk or
another plane of a stack applies the whole image's decisions to it. The command line and
:func:`sklearn_denoise.dask.denoise_dask` go through it, so that every path decides alike.
"""

import copy
from dataclasses import dataclass

import numpy as np

from ._normalize import Normalization
from ._sensor import GaussianNoise
from .noise import NoiseModel

__all__ = ["ImageDecision", "pin_decision"]


@dataclass(frozen=True)
class ImageDecision:
    """The choices ``transform`` makes from one image's content.

    Parameters
    ----------
    normalization : Normalization
        The affine map of the image onto about [0, 1] (the identity for images already
        there).
    noise : tuple
        One entry per channel pass of the method, on the normalised scale: a
        ``GaussianNoise`` (white or correlated Gaussian noise of that level), a
        ``NoiseModel`` (Poisson-Gaussian, variance-stabilised or mapped per pixel), a tuple
        of them (the R, G and B planes of a colour image with sensor noise) or None (the
        method uses no noise level, or one that it reads itself).
    correlated : tuple of bool
        Per channel pass: whether the CNN runs its correlated-noise expert.
    data_scale : float
        What 1.0 on the intensity scale is in the image's data units (an integer
        dtype's maximum, 1 for floats).
    method_state : object
        Statistics of the whole image a method keeps (the wavelet's thresholds).
    noise_source : {"given", "estimated"} or None
        Whether the noise was given (``sigma``, a ``NoiseModel``) or read off the image.
    channel_gains : tuple of float or None
        Per channel pass, the standard deviation that white noise of standard deviation 1
        in the image's channels has there (the opponent colour space's row norms); None
        for 1.
    stabilized : Normalization or None
        For Poisson-Gaussian noise removed through the variance-stabilising transform:
        the map of the stabilised image onto about [0, 1].
    compressed : bool
        Whether the image was read as decoded from a JPEG file
        (:func:`sklearn_denoise._compression.looks_jpeg_compressed`) and its noise as
        compressed noise.
    below_floor : tuple of bool
        Per channel pass (empty: none): whether its noise is fainter than the CNN's
        floor (:func:`sklearn_denoise._cnn_steps.below_noise_floor`), so that the pass
        leaves the channel as it is.
    """

    normalization: Normalization
    noise: tuple = (None,)
    correlated: tuple = (False,)
    data_scale: float = 1.0
    method_state: object = None
    noise_source: str | None = None
    channel_gains: tuple | None = None
    stabilized: Normalization | None = None
    compressed: bool = False
    below_floor: tuple = ()

    def noise_in_data_units(self):
        """The noise of the first channel pass in the units a user gives it in.

        Returns
        -------
        noise : GaussianNoise, NoiseModel or None
            A ``GaussianNoise`` whose ``sigma`` is on the image's intensity scale (the
            units of the denoisers' ``sigma`` parameter: an integer dtype's range is
            [0, 1]), a ``NoiseModel`` in data units (raw counts for integer images), or
            None.
        """
        noise = self.noise[0] if self.noise else None
        if isinstance(noise, tuple):
            noise = noise[0]
        scale = self.normalization.scale
        if isinstance(noise, GaussianNoise):
            gains = self.channel_gains or (1.0,) * len(self.noise)
            levels = [float(np.mean(n.sigma)) / g for n, g in zip(self.noise, gains)
                      if isinstance(n, GaussianNoise)]
            return GaussianNoise(float(np.mean(levels)) * scale)
        from ._medical import RicianNoise

        if isinstance(noise, RicianNoise):
            return GaussianNoise(noise.sigma * scale)
        if isinstance(noise, NoiseModel):
            model = noise.scaled(-self.normalization.offset / scale, 1.0 / scale)
            return model.scaled(0.0, 1.0 / self.data_scale)
        return None

    def describe(self, dtype, source=None):
        """One line for people: the noise assumed, in the file's units; ``source``
        ("given" or "estimated") follows a level or model in brackets."""
        text = self._describe_noise(dtype)
        if source is not None and self.noise_in_data_units() is not None:
            text = f"{text} ({source})"
        return text + self._floor_note()

    def _describe_noise(self, dtype):
        from ._medical import RicianNoise, SpeckleNoise

        if self.normalization.flat:
            return "a constant image: left as it is"
        first = self.noise[0] if self.noise else None
        dtype = np.dtype(dtype)
        if isinstance(first, SpeckleNoise):
            return (f"speckle noise, {first.looks:.3g} looks (log-domain sigma "
                    f"{first.log_sigma:.3g})")
        if isinstance(first, RicianNoise):
            level = first.sigma * self.normalization.scale
            kind = "correlated rician" if any(self.correlated) else "rician"
            if dtype.kind == "f":
                return f"{kind} noise, sigma {level:.4g}"
            return f"{kind} noise, sigma {level * self.data_scale:.4g} ({dtype} values)"
        noise = self.noise_in_data_units()
        if isinstance(noise, NoiseModel):
            return (f"poisson-gaussian noise, gain {noise.gain:.3g}, read noise "
                    f"{noise.read_noise:.3g}, black level {noise.black_level:.4g}")
        if noise is None:
            return "noise level not used"
        kind = "correlated gaussian" if any(self.correlated) else "gaussian"
        if self.compressed:
            kind = f"JPEG-compressed {kind}"
        if dtype.kind == "f":
            return f"{kind} noise, sigma {noise.sigma:.4g}"
        return f"{kind} noise, sigma {noise.sigma * self.data_scale:.4g} ({dtype} values)"

    def _floor_note(self):
        if not any(self.below_floor):
            return ""
        if all(self.below_floor):
            return "; under the network's noise floor: left as it is"
        return "; some channels under the network's noise floor: left as they are"


def pin_decision(estimator, decision):
    """A shallow copy of a fitted ``estimator`` that applies ``decision`` to every image."""
    pinned = copy.copy(estimator)
    pinned.decision_ = decision
    return pinned


def pinned_decision(estimator):
    """The decision fixed by ``for_image``, or None."""
    return getattr(estimator, "decision_", None)
