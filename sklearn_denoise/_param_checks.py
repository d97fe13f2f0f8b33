"""Small hyper-parameter checks shared by the classical denoisers."""

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
