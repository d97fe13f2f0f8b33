"""Hyper-parameter checks shared by the estimators: each error names the parameter."""

from numbers import Integral, Real

import numpy as np


def check_bool(value, name):
    """Validate a boolean flag (Python or NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_n_jobs(value, name="n_jobs"):
    """Validate a joblib ``n_jobs``: None or a non-zero int (negative counts from the end)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be None or an int, got {value!r}.")
    if value == 0:
        raise ValueError(f"{name} must be None, a positive int or a negative int, got 0.")
    return int(value)


def check_real(value, name, *, low=None, low_inclusive=True, allow_none=False):
    """Validate a real-valued parameter with an optional lower bound."""
    if value is None:
        if allow_none:
            return None
        raise TypeError(f"{name} must be a number, got None.")
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if low is not None:
        if low_inclusive and value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}.")
        if not low_inclusive and value <= low:
            raise ValueError(f"{name} must be > {low}, got {value}.")
    return value


def check_sigma(sigma, name="sigma", allow_none=True, upper=1.0):
    """Validate a noise level on the [0, 1] intensity scale.

    Estimators pass ``upper=None``: their images may be on another scale (floats on
    [0, 255], ...), so the level is checked against each image when it is mapped onto
    [0, 1] (:meth:`sklearn_denoise._normalize.Normalization.noise_level`).
    """
    if sigma is None:
        if allow_none:
            return None
        raise ValueError(f"{name} must be a number in [0, 1], got None.")
    if isinstance(sigma, bool) or not isinstance(sigma, (Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a float on the [0, 1] intensity scale, got {sigma!r}.")
    sigma = float(sigma)
    if not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"{name} must be a non-negative finite float, got {sigma}.")
    if upper is not None and sigma > upper:
        raise ValueError(
            f"{name}={sigma} is above 1: sigma is on the [0, 1] intensity scale (the classic "
            f"'sigma = 25' on 0-255 images is 25/255 = {25 / 255:.4f})."
        )
    return sigma


def check_choice(value, name, choices):
    """Raise a ValueError naming the allowed options when ``value`` is not one of them."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}.")
    return value


def check_int(value, name, minimum=None, allow_none=False):
    """Validate an integer parameter."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return int(value)
