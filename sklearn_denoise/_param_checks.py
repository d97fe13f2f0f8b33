"""Hyper-parameter checks shared by the estimators: each error names the parameter."""

from numbers import Integral, Real

import numpy as np

from ._normalize import check_normalize


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


# passes of CNNDenoiser's test-time self-ensemble (subgroups of the square's symmetries)
SELF_ENSEMBLE_SIZES = (1, 2, 4, 8)

# CNNDenoiser's training losses (_training.PixelLoss)
LOSSES = ("mse", "l1", "psnr")

#: ``lr`` of the denoisers that :meth:`CNNDenoiser.load` and :meth:`CNNDenoiser.pretrained`
#: return, and of ``sklearn-denoise train --init``: fine-tuning at the from-scratch default
#: of 1e-3 undoes the shipped training.
FINE_TUNING_LR = 1e-4


def check_int(value, name, minimum=None, allow_none=False, maximum=None):
    """Validate an integer parameter (``minimum`` and ``maximum`` inclusive)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int, got {value!r}.")
    low = minimum is not None and value < minimum
    high = maximum is not None and value > maximum
    if (low or high) and minimum is not None and maximum is not None:
        raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {value}.")
    if low:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    if high:
        raise ValueError(f"{name} must be <= {maximum}, got {value}.")
    return int(value)


# --------------------------------------------------------------- constraints tables
# Each estimator declares ``_parameter_constraints``: parameter name -> a check that takes
# ``(value, name)`` and raises a TypeError/ValueError naming the parameter (the
# scikit-learn pattern, with this package's messages: finite numbers, the [0, 1] sigma
# hint). ``validate_params`` runs the table in ``fit`` (and when a fitted model is loaded);
# ``transform`` does not re-check it.


def Int(minimum=None, allow_none=False, *, maximum=None):  # noqa: N802 (reads as a type)
    """An int of at least ``minimum`` and at most ``maximum`` (or None)."""
    return lambda value, name: check_int(value, name, minimum, allow_none, maximum)


def Float(low=None, high=None, *, low_inclusive=True, high_inclusive=True,  # noqa: N802
          allow_none=False):
    """A finite number in the given bounds (or None)."""
    def check(value, name):
        value = check_real(value, name, low=low, low_inclusive=low_inclusive,
                           allow_none=allow_none)
        if value is not None and high is not None and (
                value > high or (value == high and not high_inclusive)):
            bracket = "]" if high_inclusive else ")"
            lower = "[" if low_inclusive else "("
            raise ValueError(f"{name} must be in {lower}{low}, {high}{bracket}, got {value}.")
        return value
    return check


def Options(*choices, allow_none=False):  # noqa: N802
    """One of ``choices`` (or None)."""
    def check(value, name):
        if value is None and allow_none:
            return None
        if isinstance(value, (list, dict, set)):  # unhashable: never an option
            raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}.")
        return check_choice(value, name, set(choices))
    return check


def SelfEnsemble():  # noqa: N802
    """A number of self-ensemble passes: 1, 2, 4 or 8 (a bool is not a number here)."""
    return lambda value, name: check_choice(check_int(value, name), name,
                                            SELF_ENSEMBLE_SIZES)


def Bool(allow_none=False):  # noqa: N802
    """True or False (or None)."""
    return lambda value, name: None if value is None and allow_none else check_bool(value,
                                                                                    name)


def Sigma(upper=None):  # noqa: N802
    """A noise level: None or a non-negative finite float (at most ``upper``)."""
    return lambda value, name: check_sigma(value, name, allow_none=True, upper=upper)


def NJobs():  # noqa: N802
    """A joblib ``n_jobs``: None or a non-zero int."""
    return check_n_jobs


def Normalize():  # noqa: N802
    """The ``normalize`` parameter: "auto", "percentile", "none", True or False."""
    return lambda value, name: check_normalize(value)


def Anything(value, name):  # noqa: N802
    """Checked elsewhere (when used): weight files, seeds, image shapes."""
    return value


def validate_params(estimator, names=None):
    """Check the parameters of ``estimator`` (all, or those in ``names``) against its
    class's constraints table."""
    constraints = type(estimator)._parameter_constraints
    for name in estimator.get_params(deep=False) if names is None else names:
        if name not in constraints:
            raise NotImplementedError(
                f"{type(estimator).__name__}._parameter_constraints has no entry for the "
                f"parameter {name!r}."
            )
        constraints[name](getattr(estimator, name), name)


# ------------------------------------------------------------------------------ axes
#: The ``axes`` every denoiser accepts, in the letters of tifffile and CAREamics: Y and X
#: the image plane, Z (a volume) or T (a sequence) the stacked planes in front of them, C
#: the channels, last. Samples (the ``n`` of ``X``) are not named.
AXES = ("YX", "YXC", "ZYX", "ZYXC", "TYX", "TYXC")
_AXES_LETTERS = "ZTYXC"


def check_axes(value, name="axes"):
    """Validate an ``axes`` string (see :data:`AXES`); returns it upper-cased.

    Raises a TypeError for a non-string and a ValueError naming the problem for unknown
    letters, repeated letters and letters in an unsupported order.
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string such as 'YX' or 'ZYX', got {value!r}.")
    axes = value.upper()
    unknown = sorted(set(axes) - set(_AXES_LETTERS))
    if unknown:
        raise ValueError(
            f"{name}={value!r} has unknown letter(s) {', '.join(unknown)}: use Z (volume) "
            f"or T (sequence), Y, X and C (channels), e.g. one of {list(AXES)}. The "
            "sample axis (n) is not named."
        )
    repeated = sorted({a for a in axes if axes.count(a) > 1})
    if repeated:
        raise ValueError(f"{name}={value!r} repeats {', '.join(repeated)}: name each axis once.")
    if axes not in AXES:
        raise ValueError(
            f"{name}={value!r} is not supported: it must be one of {list(AXES)} (Z or T "
            "first, then Y and X, channels last; a volume cannot also be a sequence)."
        )
    return axes


def Axes(planes_only=None):  # noqa: N802
    """An ``axes`` string, one of :data:`AXES`; with ``planes_only`` (why the estimator
    takes no volumes) only "YX" and "YXC", a 3-D ``axes`` raising a ValueError that says
    it."""
    def check(value, name):
        axes = check_axes(value, name)
        if planes_only is not None and is_volume_axes(axes):
            raise ValueError(f"{name}={value!r} is not supported: {planes_only}")
        return axes
    return check


def is_volume_axes(axes):
    """Whether ``axes`` (valid) stacks planes along Z or T."""
    return str(axes).upper()[:1] in ("Z", "T")
