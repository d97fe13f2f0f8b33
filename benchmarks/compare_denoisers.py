"""Benchmark every denoiser of the package with the Set12 protocol; Markdown to stdout.

    python benchmarks/compare_denoisers.py                              # bundled samples
    python benchmarks/compare_denoisers.py --images ../shared/data/set12 \
        --sigmas 15,25,50 --figure set12.png

Protocol (../shared/data/README.md): clean uint8 image -> float in [0, 1]; add
N(0, (sigma/255)^2) noise with a fixed seed (seed + k for the k-th image), no clipping;
denoise; clip to [0, 1], multiply by 255 and round; PSNR against the uint8 clean image
with peak 255, and SSIM. Seconds per image are measured with time.perf_counter around
each denoise call. Methods needing a noise level get the true sigma.

Unlike ``sklearn-denoise compare`` this runs every available method (BM3D included) on
whole images by default. The CNN uses the shipped pretrained model when there is one, or
``--model PATH``.
"""

import argparse
import sys
import time

from sklearn_denoise._compare import (
    METHOD_NAMES,
    default_methods,
    load_images,
    parse_sigmas,
    run_comparison,
    save_figure,
    to_markdown,
    write_text,
)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n", 2)[2],
    )
    parser.add_argument("--images", default=None, metavar="DIR",
                        help="folder of clean images, e.g. ../shared/data/set12 (default: "
                        "the bundled grayscale sample images)")
    parser.add_argument("--sigmas", "--sigma", default="15,25,50", metavar="S1,S2,...",
                        help="noise levels on the 0-255 scale (default: %(default)s)")
    parser.add_argument("--figure", default=None, metavar="PATH",
                        help="write crops of one image (clean, noisy, each method) here")
    parser.add_argument("--figure-image", type=int, default=0, metavar="K",
                        help="index of the image in the figure (default: 0)")
    parser.add_argument("--methods", nargs="+", default=None, metavar="NAME",
                        help=f"methods to run (default: all available): {', '.join(METHOD_NAMES)}"
                        " (comma-separated also accepted)")
    parser.add_argument("--model", default=None, metavar="NAME|PATH",
                        help="CNN weights (default: the shipped pretrained model, if any)")
    parser.add_argument("--size", type=int, default=None, metavar="N",
                        help="centre-crop images to at most NxN (default: whole images)")
    parser.add_argument("--max-images", type=int, default=None, metavar="N")
    parser.add_argument("--color", action="store_true",
                        help="colour images (RGB samples, or folder images kept in colour)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    parser.add_argument("--output", default=None, metavar="PATH",
                        help="also write the Markdown table to this file")
    args = parser.parse_args(argv)

    try:
        sigmas = parse_sigmas(args.sigmas)
        include = None
        if args.methods:
            include = [m for item in args.methods for m in item.split(",") if m]
        methods = default_methods(model=args.model, include=include)
        images, names = load_images(args.images, size=args.size, max_images=args.max_images,
                                    color=args.color)
    except ValueError as exc:
        parser.error(str(exc))
    if not methods:
        parser.error("no method available: " + "; ".join(
            f"{k}: {v}" for k, v in methods.skipped.items()))
    start = time.perf_counter()
    result = run_comparison(images, sigmas, methods, seed=args.seed,
                            keep_image=args.figure_image, names=names, progress=True)
    source = args.images or "bundled sample images"
    table = to_markdown(result, title=f"## Denoiser comparison: {len(images)} image(s) from "
                        f"{source} ({', '.join(names)})")
    table += f"\nTotal time {time.perf_counter() - start:.1f} s.\n"
    sys.stdout.write(table)
    if args.output:
        write_text(args.output, table)
    if args.figure:
        path = save_figure(result, args.figure)
        print(f"Figure written to {path}.")
    return 1 if any(v.startswith("failed") for v in result.skipped.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
