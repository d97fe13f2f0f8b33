"""The generalised Anscombe transform of Poisson-Gaussian noise and its unbiased inverse.

:func:`stabilize` maps sensor data whose noise variance grows with the signal
(:class:`~sklearn_denoise.noise.NoiseModel`) to data with noise of standard deviation close
to 1 everywhere, so that a denoiser made for white Gaussian noise applies;
:func:`unstabilize` maps the denoised result back with the closed-form approximation of the
exact unbiased inverse, which removes the bias of the algebraic inverse at low counts.
Used by :class:`~sklearn_denoise.VarianceStabilizedDenoiser` (which chains the three steps
around any Gaussian denoiser), by the classical denoisers' noise maps and by
:class:`~sklearn_denoise.CNNDenoiser`.
"""

import math

import numpy as np

from ._noise_model import NoiseModel

__all__ = ["stabilize", "unstabilize"]

_SQRT_3_2 = math.sqrt(1.5)
# 2 * sqrt(3/8): the transform of zero photons with no read noise, where the closed-form
# inverse is 0; smaller values are mapped to 0 (the approximation is meant for larger ones).
_D_MIN = 2 * math.sqrt(3 / 8)

def _check_model(model):
    if not isinstance(model, NoiseModel):
        raise TypeError(
            f"model must be a sklearn_denoise.noise.NoiseModel, got {type(model).__name__}."
        )
    if model.gain == 0 and model.read_noise == 0:
        raise ValueError(
            "model has no noise (gain=0 and read_noise=0): there is nothing to stabilise."
        )
    return model


def stabilize(z, model):
    """Generalised Anscombe transform: Poisson-Gaussian noise to noise of std about 1.

    ``f(z) = (2 / a) * sqrt(max(a * z + 3/8 * a**2 + read**2 - a * black, 0))`` with
    ``a = model.gain``, ``read = model.read_noise`` and ``black = model.black_level``
    (Starck, Murtagh & Bijaoui; Makitalo & Foi 2013). With ``gain=0`` (pure Gaussian noise)
    it is the affine map ``(z - black) / read``.

    Parameters
    ----------
    z : array-like
        Noisy data in the model's data units (integers as raw counts).
    model : NoiseModel
        The noise of ``z``.

    Returns
    -------
    stabilized : ndarray
        float64, same shape as ``z``.

    See Also
    --------
    unstabilize : The (unbiased) inverse.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_denoise._vst import stabilize
    >>> from sklearn_denoise.noise import NoiseModel, poisson_gaussian
    >>> model = NoiseModel(gain=1.0, read_noise=2.0, black_level=100.0)
    >>> for level in (5, 50, 500):
    ...     raw = poisson_gaussian(np.full(100_000, level), gain=1, read_sigma=2,
    ...                            black_level=100, random_state=0)
    ...     print(round(float(stabilize(raw, model).std()), 2))
    1.02
    1.0
    1.0
    """
    model = _check_model(model)
    z = np.asarray(z, dtype=np.float64)
    gain, read, black = model.gain, model.read_noise, model.black_level
    if gain == 0:
        return (z - black) / read
    inner = gain * (z - black) + 0.375 * gain**2 + read**2
    return (2.0 / gain) * np.sqrt(np.maximum(inner, 0.0))


def _inverse_unit(d):
    """Closed-form approximation of the exact unbiased inverse for pure Poisson (gain 1).

    ``I(D) = D**2/4 + sqrt(3/2)/(4 D) - 11/(8 D**2) + 5 sqrt(3/2)/(8 D**3) - 1/8``
    (Makitalo & Foi 2011), 0 below ``2 sqrt(3/8)`` where ``I`` reaches 0.
    """
    d = np.maximum(d, _D_MIN)
    inv = 1.0 / d
    out = (
        0.25 * d * d
        + 0.25 * _SQRT_3_2 * inv
        - 1.375 * inv * inv
        + 0.625 * _SQRT_3_2 * inv**3
        - 0.125
    )
    return np.maximum(out, 0.0)


def _inverse_unit_derivative(d):
    inv = 1.0 / d
    return 0.5 * d - 0.25 * _SQRT_3_2 * inv**2 + 2.75 * inv**3 - 1.875 * _SQRT_3_2 * inv**4


def unstabilize(d, model):
    """Exact unbiased inverse of :func:`stabilize` (closed-form approximation).

    A denoiser applied to stabilised data estimates the *expected* transformed value, which
    differs from the transform of the expected value at low counts; the algebraic inverse
    ``(D / 2)**2 - 3/8 - ...`` is therefore biased there. The exact unbiased inverse
    (Makitalo & Foi 2011, 2013) maps the expected transformed value back to the expected
    data value. On the normalised scale (counts of photo-electrons, ``sigma = read / gain``)
    its closed-form approximation is
    ``max(D**2/4 + sqrt(3/2)/(4 D) - 11/(8 D**2) + 5 sqrt(3/2)/(8 D**3) - 1/8 - sigma**2, 0)``,
    which is then mapped back with the gain and the black level. Values below the black
    level are not produced. With ``gain=0`` it is the affine map ``read * d + black``.

    Parameters
    ----------
    d : array-like
        Denoised stabilised data (an estimate of the expected value of :func:`stabilize`).
    model : NoiseModel
        The noise model used by :func:`stabilize`.

    Returns
    -------
    z : ndarray
        float64 values in the model's data units, same shape as ``d``.

    Examples
    --------
    The transform of noisy data averaged over many draws maps back to the true level:

    >>> import numpy as np
    >>> from sklearn_denoise._vst import stabilize, unstabilize
    >>> from sklearn_denoise.noise import NoiseModel, poisson_gaussian
    >>> model = NoiseModel(gain=1.0, read_noise=0.0)
    >>> raw = poisson_gaussian(np.full(1_000_000, 2.0), gain=1, read_sigma=0, random_state=0)
    >>> mean_d = stabilize(raw, model).mean()
    >>> round(float(unstabilize(mean_d, model)), 1)
    2.0
    """
    model = _check_model(model)
    d = np.asarray(d, dtype=np.float64)
    gain, read, black = model.gain, model.read_noise, model.black_level
    if gain == 0:
        return read * d + black
    photons = np.maximum(_inverse_unit(d) - (read / gain) ** 2, 0.0)
    return gain * photons + black


def _restabilize(z, model):
    """The stabilised value that :func:`unstabilize` maps to ``z`` (its inverse).

    For clean data ``z`` this is (approximately) the expected value of the stabilised noisy
    data, the right target for a denoiser trained in the stabilised domain. Data at or
    below the black level map to the smallest such value.
    """
    model = _check_model(model)
    z = np.asarray(z, dtype=np.float64)
    gain, read, black = model.gain, model.read_noise, model.black_level
    if gain == 0:
        return (z - black) / read
    target = np.maximum((z - black) / gain, 0.0) + (read / gain) ** 2
    d = np.maximum(2.0 * np.sqrt(target + 0.125), _D_MIN)
    for _ in range(30):  # Newton's method; _inverse_unit increases above _D_MIN
        step = (_inverse_unit(d) - target) / _inverse_unit_derivative(d)
        d = np.maximum(d - step, _D_MIN)
        if np.all(np.abs(step) <= 1e-12 * d):
            break
    return d
