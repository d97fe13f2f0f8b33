"""Compare denoisers on clean images with synthetic noise (the Set12 protocol), as
``sklearn-denoise compare`` and ``benchmarks/compare_denoisers.py`` do.

Seeded white Gaussian noise (not clipped) on clean 8-bit images, denoise, round to 8 bits,
PSNR (peak 255) and SSIM, seconds per image. :func:`default_methods` builds the methods of
:data:`sklearn_denoise.methods.METHODS`, :func:`run_comparison` runs them,
:func:`to_markdown` renders the table and :func:`save_figure` writes crops of one image::

    from sklearn_denoise import compare

    images, names = compare.load_images(None, size=128, max_images=2)
    result = compare.run_comparison(images, [25], compare.default_methods(include=["tv"]),
                                    names=names)
    print(compare.to_markdown(result))
"""

from ._compare import (
    METHOD_NAMES,
    Comparison,
    Method,
    MethodSet,
    Row,
    add_noise,
    center_crop,
    check_crop,
    colour_mode,
    default_methods,
    figure_crop,
    load_images,
    parse_sigmas,
    quantize,
    run_comparison,
    save_figure,
    to_markdown,
    write_text,
)

__all__ = [
    "METHOD_NAMES",
    "Comparison",
    "Method",
    "MethodSet",
    "Row",
    "add_noise",
    "center_crop",
    "check_crop",
    "colour_mode",
    "default_methods",
    "figure_crop",
    "load_images",
    "parse_sigmas",
    "quantize",
    "run_comparison",
    "save_figure",
    "to_markdown",
    "write_text",
]
