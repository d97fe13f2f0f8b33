"""The CNN models: the shipped pretrained ones and weight files, and loading them for
images.

:func:`available_models` names the shipped models and :func:`model_descriptions` says
what each is; :func:`model_config` reads (and checks) the network a model or weight file
holds; :func:`load_cnn` returns a fitted :class:`~sklearn_denoise.CNNDenoiser` for gray
or colour images, applying a 1-channel network to RGB images in the decorrelated colour
space (:func:`channel_strategy_for`). The command line's ``--model`` and ``--init`` go
through these.
"""

from ._cnn import channel_strategy_for, load_cnn
from ._weights import available_models, model_descriptions, resolve_weights

__all__ = [
    "available_models",
    "channel_strategy_for",
    "load_cnn",
    "model_config",
    "model_descriptions",
]


def model_config(model):
    """The network a shipped model or a weight file holds, read and checked.

    The whole file is read and checked (checksum, module settings, tensor shapes), so a
    model that this returns for loads.

    Parameters
    ----------
    model : str or path-like
        A name of :func:`available_models` or a file written by
        :meth:`CNNDenoiser.save <sklearn_denoise.CNNDenoiser.save>`.

    Returns
    -------
    config : dict
        ``architecture``, ``channels``, ``depth``, ``width``, ``blocks`` and
        ``noise_level_input``.

    Raises
    ------
    ValueError
        If the file is missing, corrupt or not a weight file.
    TypeError
        If ``model`` is neither a name nor a path.

    Examples
    --------
    >>> from sklearn_denoise.models import model_config
    >>> model_config("gray")["noise_level_input"]
    True
    """
    return resolve_weights(model)[0]
