"""Where and on how many threads the neural networks run.

:func:`torch_device` resolves a ``device`` option ("cpu", "cuda", "auto");
:func:`resolve_threads` gives the CPU thread count of an ``n_threads`` option (None: the
cores other processes leave idle, measured now) and :func:`torch_threads` sets torch's
count for a block and restores it afterwards. :class:`~sklearn_denoise.CNNDenoiser` uses
them for its ``device`` and ``n_threads`` parameters, the command line for ``--device``
and ``--threads``. Importing this module does not import torch; calling these does.
"""

from ._threads import default_threads, resolve_threads, torch_threads

__all__ = ["default_threads", "resolve_threads", "torch_device", "torch_threads"]


def torch_device(device):
    """The torch device for a ``device`` option.

    Parameters
    ----------
    device : {"cpu", "cuda", "auto"}
        "auto" picks CUDA when it is available.

    Returns
    -------
    device : str
        "cpu" or "cuda".

    Raises
    ------
    ValueError
        If "cuda" is asked for but not available.
    """
    from ._inference import torch_device as _torch_device

    return _torch_device(device)
