"""What tiles of an image, or dask chunks, must give a denoiser: its spatial contract.

Every denoiser has a ``spatial_contract()`` (or a known one, see :func:`contract_of`): the
pixels of context each output pixel needs (``margin``), the grid tile borders fall on
(``multiple``), the smallest tile (``min_size``) and whether it is local at all
(``local``). :class:`~sklearn_denoise.CNNDenoiser` tiles large images by it and
:func:`sklearn_denoise.dask.denoise_dask` overlaps chunks by it; a
:class:`~sklearn.pipeline.Pipeline`'s contract composes those of its steps
(:func:`compose_contracts`).

A volume denoised jointly along Z (or T) by a stack network decides its normalisation and
noise on the planes :func:`decision_plane_indices` names (all of them up to 16), so that
a reader of a long file (the command line) can take the same decisions in bounded memory
and then denoise it in chunks of planes overlapped by the estimator's ``planes_margin()``.
"""

from ._stack import decision_plane_indices
from ._tiling import (
    SpatialContract,
    UnknownContractError,
    compose_contracts,
    contract_of,
    for_image_shape,
    image_axes,
    make_contract,
    round_up,
)

__all__ = [
    "SpatialContract",
    "UnknownContractError",
    "compose_contracts",
    "contract_of",
    "decision_plane_indices",
    "for_image_shape",
    "image_axes",
    "make_contract",
    "round_up",
]
