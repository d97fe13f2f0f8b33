"""Command line: ``sklearn-denoise`` (or ``python -m sklearn_denoise``).

Subcommands:

- ``denoise IN... -o OUTDIR``: denoise image files and folders;
- ``compare``: compare every denoiser on clean images with synthetic noise (Markdown table,
  optional figure);
- ``train``: train or fine-tune a CNN from image folders, resumable.

Noise levels on the command line are on the 0-255 scale ("sigma 25"), for 8- and 16-bit
images alike: ``--sigma 25`` means a standard deviation of 25/255 of the full intensity
range (a value below 1 gets a warning: it is most likely meant on the [0, 1] scale).
``denoise`` says which noise it assumed for each file, by the library's rules
(the estimators' ``noise_model`` and ``sigma``): white Gaussian, or Poisson-Gaussian
sensor noise given (``--gain``, ``--read-noise``, ``--black-level`` in the file's data
units) or estimated; TIFF stacks are read and written plane by plane
(:func:`sklearn_denoise.io.open_image`). Commands that run the network take
``--threads`` and ``--device``. Exit codes: 0 success, 1 some files failed, 2 usage or
setup error (the message says which), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).

No command overwrites one of its inputs, and ``denoise`` replaces existing output files
only with ``--overwrite``: without it, a file that appears while the command runs (another
run writing the same name) is not replaced either, and is reported as an error for that
input (exit code 1). Files are written atomically through a hidden temporary file
``.NAME.<host>-<pid>.<hex>.tmp`` that an interruption (Ctrl-C, SIGTERM) removes; those a
killed process (SIGKILL) left behind are removed by the next run writing into that folder
once their process no longer runs on this machine
(:func:`~sklearn_denoise.io.remove_stale_temporaries`; never by age, so a long write
of another run is never disturbed).
Image files are refused, before decoding, above ``--max-pixels`` pixels (default
:data:`sklearn_denoise.io.MAX_PIXELS`, 2**27).

This module only parses arguments, calls the library's public API and prints: the methods
are those of :data:`sklearn_denoise.methods.METHODS`, models are loaded by
:mod:`sklearn_denoise.models`, images are read and written with :mod:`sklearn_denoise.io`
(atomically), the comparison is :mod:`sklearn_denoise.compare`, and the noise of each file
is decided by the estimators' own ``for_image``. ``--version`` and ``--help`` import
neither torch nor the estimators.
"""

import argparse
import os
import signal
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROG = "sklearn-denoise"
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 128 + signal.SIGTERM
MIN_TRAIN_SIZE = 8


class CLIError(Exception):
    """A usage or setup error: printed without traceback, exit code 2."""


class _Terminated(BaseException):
    """Raised by SIGTERM in the main thread, so that clean-up runs as for Ctrl-C."""


# ------------------------------------------------------------------------------ arguments
def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid number {text!r}: expected a positive number, e.g. 25") from None
    if not np.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _sigma_list(text):
    from .compare import parse_sigmas

    try:
        return parse_sigmas(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _figure_sigmas(text):
    return "all" if text.strip() == "all" else _sigma_list(text)


def _crop_box(text):
    try:
        box = tuple(int(part) for part in text.split(","))
    except ValueError:
        box = ()
    if len(box) != 4 or min(box) < 0 or min(box[2:]) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid crop {text!r}: expected X,Y,W,H in pixels (integers, X and Y >= 0, "
            "W and H >= 1), e.g. 40,60,96,96"
        )
    return box


def _sigma_range(text):
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(
            f"invalid sigma range {text!r}: expected A,B (0-255 scale), e.g. 0,55"
        )
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid sigma range {text!r}: expected numbers A,B (0-255 scale), e.g. 0,55"
        ) from None
    if not (0 <= low <= high <= 255):
        raise argparse.ArgumentTypeError(
            f"sigma range {text!r} must satisfy 0 <= A <= B <= 255 (0-255 scale)"
        )
    return low, high


def _number_type(convert, what, low=None, *, strict=False):
    """An argparse type: ``convert(text)`` (int or float), finite and at least ``low`` (above
    it with ``strict``); the error says ``expected {what}``."""

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if isinstance(value, float) and not np.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if low is not None and (value < low or (strict and value == low)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


_positive_int = _number_type(int, "a positive integer", 1)
_non_negative_int = _number_type(int, "an integer >= 0", 0)
_finite_float = _number_type(float, "a number")
_non_negative_float = _number_type(float, "a number >= 0", 0)
_positive_float = _number_type(float, "a positive number", 0, strict=True)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30)


def build_parser():
    """The argparse parser of ``sklearn-denoise``."""
    from . import __version__
    from .methods import (
        DENOISER_NAMES,
        LOSSES,
        METHOD_NAMES,
        NOISE_MODEL_OPTIONS,
        SELF_ENSEMBLE_SIZES,
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Image denoising with scikit-learn transformers: denoise files, compare "
        "denoisers, train a CNN.",
        epilog=textwrap.dedent("""\
            Noise levels (sigma) are on the 0-255 scale for 8- and 16-bit images alike.
            Run '%(prog)s COMMAND --help' for the options of a command. Exit codes: 0
            success, 1 some files (or comparison methods) failed, 2 usage or setup error,
            130 interrupted, 143 terminated (SIGTERM).

            examples:
              %(prog)s denoise photo.png scans/ -o denoised/ --method cnn
              %(prog)s compare --figure compare.png
              %(prog)s train --clean clean/ --out model.pt --epochs 20"""),
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    # -- denoise
    den = sub.add_parser(
        "denoise",
        help="denoise image files and folders",
        usage="%(prog)s IN [IN ...] -o OUTDIR [--method METHOD] [--sigma S] "
        "[--noise MODEL] [--gain G] [--read-noise R] [--black-level B] "
        "[--model NAME|PATH] [--overwrite] [--max-pixels N] [-q]\n"
        "       %(prog)s --list-models",
        description=textwrap.dedent("""\
            Denoise PNG, JPEG and TIFF images (8- or 16-bit, gray or colour, with or without
            alpha; multi-band TIFF, denoised jointly), DICOM files and series folders,
            NIfTI volumes and FITS images (with the [formats] extra; stored dtype and
            headers kept), and TIFF stacks of gray planes (z or t, e.g. (n, H, W) from
            tifffile or ImageJ hyperstacks). A stack or volume with one axis of planes
            (axes of length 1 aside) is denoised jointly, each plane seeing its
            neighbours (--axes auto): by the CNN's stack network in chunks of planes
            (bounded memory, the same result as the whole volume), or by wavelet, tv, nlm
            and bm3d (BM4D) in 3-D on the whole volume; other stacks, and --axes YX, go
            plane by plane in bounded memory. Each result is written to OUTDIR under the
            input's file name, with its bit depth and colour mode (uint16 counts in,
            uint16 counts out; the alpha channel is kept as is, and so are the EXIF data
            and colour profile of PNG and JPEG files and the resolution, description and
            ImageJ settings of TIFF files). Files are written
            atomically, and an input file is never overwritten: an OUTDIR that would do so
            is refused. Files that already exist in OUTDIR are not replaced either: the
            command stops (exit code 2) before writing anything unless --overwrite is
            given, and a file that another run puts there meanwhile is not replaced (an
            error for that input, exit code 1). Hidden temporary files
            (.NAME.<host>-<pid>.<hex>.tmp) that a killed run on this machine left in
            OUTDIR are removed once their process is gone. Folders are read without recursion
            (files with a supported extension). A file that cannot be read (or is larger
            than --max-pixels) is reported on stderr and skipped; the exit code is then
            1.

            The noise model of each file is printed on stdout: white Gaussian noise, or
            signal-dependent Poisson-Gaussian sensor noise (--noise auto picks it when the
            estimated noise variance grows markedly with the signal). Poisson-Gaussian
            noise is removed by the CNN through its noise-level input, and by the
            classical methods through a variance-stabilising transform. A stack gets one
            model: estimated on its planes when denoised jointly (as the Python estimators
            with axes='ZYX' decide; up to 16 evenly spaced planes for the CNN), on its
            middle plane when denoised plane by plane. --gain, --read-noise and --black-level
            give known sensor parameters in the file's data units (counts for integer
            files); those not given are estimated."""),
        formatter_class=_Formatter,
    )
    den.add_argument("inputs", nargs="*", metavar="IN", help="image files or folders")
    den.add_argument("-o", "--output", metavar="OUTDIR",
                     help="output folder (created if missing); required")
    den.add_argument("--method", choices=DENOISER_NAMES, default="cnn",
                     help="denoiser (default: %(default)s; cnn needs a shipped pretrained "
                     "model or --model)")
    den.add_argument("--sigma", type=_positive_float, default=None, metavar="S",
                     help="noise standard deviation in the file's own units: 0-255 for "
                     "8-bit files (e.g. 25), counts for 16-bit ones, the stored values for "
                     "float files (e.g. 100 for a float TIFF on [0, 4095]); default: "
                     "estimated per image. Used by wavelet, tv, nlm, bilateral and bm3d, "
                     "and by CNN models with a noise-level input")
    den.add_argument("--noise", choices=NOISE_MODEL_OPTIONS, default="auto",
                     help="noise model (default: %(default)s: Poisson-Gaussian when the noise "
                     "grows with the signal, Gaussian otherwise; Rician for DICOM MR and "
                     "speckle for ultrasound files). rician: MR magnitude, its dark-region "
                     "bias removed; speckle: multiplicative noise, removed in the log domain")
    den.add_argument("--gain", type=_non_negative_float, default=None, metavar="G",
                     help="known sensor gain: data units per photo-electron (>= 0)")
    den.add_argument("--read-noise", type=_non_negative_float, default=None, metavar="R",
                     help="known read-noise standard deviation in data units (>= 0)")
    den.add_argument("--black-level", type=_finite_float, default=None, metavar="B",
                     help="known value recorded for no light, in data units")
    den.add_argument("--model", default=None, metavar="NAME|PATH",
                     help="CNN weights: a shipped model name (see --list-models) or a file "
                     "from 'sklearn-denoise train'; default: the shipped 'gray' model "
                     "('color' for RGB images)")
    den.add_argument("--self-ensemble", type=int, choices=SELF_ENSEMBLE_SIZES, default=1,
                     metavar="N", help="CNN only: average N mirrored and turned passes "
                     "(1, 2, 4 or 8; default: %(default)s): a little more quality for N "
                     "times the time")
    den.add_argument("--axes", choices=("auto", "YX", "ZYX", "TYX"), default="auto",
                     help="stacks and volumes: auto (default) denoises a stack with one "
                     "axis of planes jointly when the method can (the CNN's stack network, "
                     "wavelet, tv, nlm, bm3d), else plane by plane; YX: plane by plane; "
                     "ZYX or TYX: jointly, an error where the method cannot")
    den.add_argument("--list-models", action="store_true",
                     help="list the shipped pretrained models, one line each, and exit")
    den.add_argument("--overwrite", action="store_true",
                     help="replace files that already exist in OUTDIR (default: refuse, "
                     "exit code 2); input files are never overwritten")
    _add_max_pixels(den)
    _add_compute_options(den)
    den.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    den.set_defaults(handler=_cmd_denoise, parser=den)

    # -- compare
    cmp_ = sub.add_parser(
        "compare",
        help="compare the denoisers on clean images with synthetic noise",
        description=textwrap.dedent("""\
            Compare every available denoiser with the Set12 protocol: seeded Gaussian noise
            (not clipped) on clean 8-bit images, denoise, round to 8 bits, PSNR (peak 255)
            and SSIM; seconds per image. Prints a Markdown table (methods x sigmas) and
            optionally writes a figure of crops.

            Without --images it uses the 6 grayscale sample images that ship with
            scikit-image and PyWavelets (--color: the 5 colour ones), cropped to 256x256,
            and skips the slow methods (bm3d): a few minutes at most on 2 CPU cores. The
            output says what was skipped; --methods all runs everything. Images from a
            folder are compared as they are, colour images in colour and gray ones in gray
            (--gray or --color forces one mode); the table header says which."""),
        formatter_class=_Formatter,
    )
    cmp_.add_argument("--images", default=None, metavar="DIR",
                      help="folder of clean PNG/JPEG/TIFF images (default: bundled samples)")
    cmp_.add_argument("--sigma", "--sigmas", dest="sigmas", type=_sigma_list,
                      default=[15.0, 25.0, 50.0], metavar="S1,S2,...",
                      help="noise levels on the 0-255 scale (default: 15,25,50)")
    cmp_.add_argument("--figure", default=None, metavar="PATH",
                      help="write crops of one image (clean, noisy, each method) to this PNG "
                      "(needs matplotlib)")
    cmp_.add_argument("--methods", default=None, metavar="LIST",
                      help="comma-separated method names, or 'all' (default: all but the "
                      f"slow ones); names: {', '.join(METHOD_NAMES)}")
    cmp_.add_argument("--size", type=_non_negative_int, default=None, metavar="N",
                      help="centre-crop images to at most NxN; 0 keeps them whole (default: "
                      "256 for the sample images, whole images with --images)")
    cmp_.add_argument("--max-images", type=_positive_int, default=None, metavar="N",
                      help="use only the first N images")
    mode = cmp_.add_mutually_exclusive_group()
    mode.add_argument("--color", action="store_const", const=True, dest="color",
                      help="compare in colour: the 5 RGB sample images, or every folder image "
                      "in RGB (default: folder images as they are, colour in colour)")
    mode.add_argument("--gray", action="store_const", const=False, dest="color",
                      help="compare in grayscale: colour folder images are converted")
    cmp_.set_defaults(color="auto")
    cmp_.add_argument("--model", default=None, metavar="NAME|PATH",
                      help="CNN weights (default: the shipped pretrained model if any)")
    cmp_.add_argument("--figure-image", type=_non_negative_int, default=0, metavar="K",
                      help="index of the image shown in the figure (default: 0)")
    cmp_.add_argument("--figure-sigmas", type=_figure_sigmas, default=None,
                      metavar="S1,S2,...|all",
                      help="noise levels shown in the figure, one row each, or 'all' "
                      "(default: the middle one of --sigma)")
    cmp_.add_argument("--crop", type=_crop_box, default=None, metavar="X,Y,W,H",
                      help="the figure's crop in pixels from the top-left corner of the "
                      "image (default: 96x96 where the clean image has the most detail)")
    cmp_.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    _add_compute_options(cmp_)
    cmp_.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    cmp_.set_defaults(handler=_cmd_compare)

    # -- train
    tr = sub.add_parser(
        "train",
        help="train or fine-tune a CNN denoiser from image folders",
        description=textwrap.dedent("""\
            Train (or, with --init, fine-tune) a CNNDenoiser and save it to --out, a weight
            file that 'denoise --model PATH' and CNNDenoiser.load accept. The data decide
            the training mode:

              --clean DIR --noisy DIR   pairs with matching file names (supervised)
              --clean DIR               synthetic Gaussian noise, sigma drawn per patch
                                        from --sigma A,B (0-255 scale)
              --noisy DIR               self-supervised (blind-spot, Noise2Void style)

            Training runs epoch by epoch (partial_fit) with a cosine learning-rate decay.
            With --checkpoint the weights, optimizer state, training history and settings
            are saved there after every epoch (atomically; tensors and JSON, never a
            pickle); running the same command again resumes from it. Training images must
            be at least 8x8 pixels. --out, --checkpoint and the input files must all be
            different files."""),
        formatter_class=_Formatter,
    )
    tr.add_argument("--clean", default=None, metavar="DIR", help="folder of clean images")
    tr.add_argument("--noisy", default=None, metavar="DIR", help="folder of noisy images")
    tr.add_argument("--out", required=True, metavar="PATH", help="weight file to write")
    tr.add_argument("--init", default=None, metavar="NAME|PATH",
                    help="start from these weights (a shipped model name or a weight file)")
    tr.add_argument("--epochs", type=_positive_int, default=10,
                    help="number of epochs (default: %(default)s)")
    tr.add_argument("--sigma", type=_sigma_range, default=None, metavar="A,B",
                    help="synthetic noise: sigma range on the 0-255 scale, or one value "
                    "(default: 0,55); only with --clean alone")
    tr.add_argument("--checkpoint", default=None, metavar="PATH",
                    help="checkpoint file saved after every epoch and resumed if it exists")
    tr.add_argument("--architecture", choices=("unet", "n2v2", "dncnn"), default=None,
                    help="network (default: unet; n2v2, the blind-spot U-Net, for --noisy "
                    "alone; or that of --init)")
    tr.add_argument("--width", type=_positive_int, default=None,
                    help="feature channels (default: 16 for unet, 64 for dncnn)")
    tr.add_argument("--depth", type=_positive_int, default=None,
                    help="levels of the U-Net / layers of DnCNN (default: 4 / 17)")
    tr.add_argument("--blocks", type=_positive_int, default=None,
                    help="residual blocks per U-Net level (default: 2)")
    tr.add_argument("--patch-size", type=_positive_int, default=64,
                    help="side of the training crops (default: %(default)s)")
    tr.add_argument("--patches-per-image", type=_positive_int, default=None,
                    help="crops per image and epoch (default: 8; for --noisy alone, enough "
                    "to hold each image's pixels 8 times)")
    tr.add_argument("--batch-size", type=_positive_int, default=16,
                    help="batch size (default: %(default)s)")
    tr.add_argument("--lr", type=_positive_float, default=None,
                    help="initial learning rate, decayed to 1%% by a cosine over --epochs "
                    "(default: 1e-3, or 1e-4 with --init, which "
                    "adapts the weights without undoing them)")
    tr.add_argument("--loss", choices=LOSSES, default="mse",
                    help="training loss: squared error, absolute error, or minus the mean "
                    "patch PSNR (lightly noisy patches weigh as much as heavily noisy "
                    "ones); applied on resume too (default: %(default)s)")
    tr.add_argument("--validation-fraction", type=float, default=0.1,
                    help="fraction of the training images held out to report the "
                    "validation loss after each epoch; 0 trains on all (default: 0.1)")
    tr.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _add_max_pixels(tr)
    _add_compute_options(tr)
    tr.add_argument("-q", "--quiet", action="store_true", help="no per-epoch output")
    tr.set_defaults(handler=_cmd_train)
    return parser


def _add_max_pixels(parser):
    from .io import MAX_PIXELS

    parser.add_argument("--max-pixels", type=_positive_int, default=None, metavar="N",
                        help="refuse image files of more than N pixels (height x width), "
                        "checked before decoding, against decompression bombs (default: "
                        f"{MAX_PIXELS:,})")


def _add_compute_options(parser):
    parser.add_argument(
        "--threads", type=_positive_int, default=None, metavar="N",
        help="CPU threads of the neural network (PyTorch), the estimator's n_threads "
        "(default: the cores other processes leave idle, measured at each call, at most "
        "$OMP_NUM_THREADS or PyTorch's own setting: one thread per core is several times "
        "slower when other processes use the cores too)")
    parser.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="auto",
        help="where the neural network runs (default: %(default)s: CUDA when available, "
        "else the CPU)")


def _setup_torch(args):
    """Check --device (exit 2 if CUDA is asked for but missing); returns what the network
    runs on, e.g. "cpu, 2 threads" (--threads goes to the estimators' n_threads)."""
    from .compute import resolve_threads, torch_device

    threads = resolve_threads(args.threads)  # what a call gets now; the rule is per call
    try:
        device = torch_device(args.device)
    except ValueError as exc:
        raise CLIError(f"--device {args.device}: {exc}") from None
    return f"{device}, {threads} thread{'s' if threads > 1 else ''}"


def _warn_sigma_scale(args):
    """Warn about --sigma values below 1 of compare and train: most likely meant on the
    [0, 1] scale (denoise reads --sigma in each file's units, see _NoiseSettings)."""
    if args.command == "denoise":
        return
    value = getattr(args, "sigmas", getattr(args, "sigma", None))
    values = [] if value is None else [value] if np.isscalar(value) else list(value)
    for v in values:
        if 0 < v < 1:
            _warn(f"warning: --sigma {v:g} is read on the 0-255 scale, as {v:g}/255 (a "
                  f"noise standard deviation of {v / 255:.2%} of the intensity range); a "
                  "value below 1 is most likely on the [0, 1] scale: for a noise level of "
                  f"{v:g} on [0, 1], pass --sigma {v * 255:g}")


def main(argv=None):
    """Entry point of ``sklearn-denoise``; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _warn_sigma_scale(args)
    previous = _handle_sigterm()
    try:
        return int(args.handler(args) or 0)
    except CLIError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except _Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        # the reader of stdout went away (e.g. piped into head): not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _on_sigterm(signum, frame):
    # a second SIGTERM during the clean-up ends the process the default way
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    raise _Terminated


def _handle_sigterm():
    """Turn SIGTERM into an exception (clean-up as for Ctrl-C); returns the old handler."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not in the main thread: leave signals alone
        return None


def _error(message):
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)


def _warn(message):
    from tqdm import tqdm

    tqdm.write(f"{PROG}: {message}", file=sys.stderr)


# ------------------------------------------------------------------------------ helpers
def _prepare_output_folder(folder, what="output folder"):
    """Create ``folder`` if needed, check that files can be created in it, and remove the
    stale temporary files a killed run left there."""
    from .io import check_folder_writable, remove_stale_temporaries

    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CLIError(f"{what} {folder} exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create {what} {folder}: {exc.strerror or exc}") from None
    try:
        check_folder_writable(folder)
    except OSError as exc:
        raise CLIError(f"cannot write to {what} {folder}: {exc.strerror or exc}") from None
    removed = remove_stale_temporaries(folder)
    if removed:
        _warn(f"removed {len(removed)} stale temporary file(s) left in {folder} by an "
              f"interrupted run: {', '.join(p.name for p in removed[:3])}"
              f"{' ...' if len(removed) > 3 else ''}")
    return folder


def _refuse_input(path, inputs, option):
    clash = inputs.find(path)
    if clash is not None:
        raise CLIError(f"refusing to overwrite input file {clash} with {option} {path}; "
                       f"choose another {option} path")


def _check_file_destination(path, what):
    path = Path(path)
    if path.exists() and path.is_dir():
        raise CLIError(f"{what} {path} is a folder; give a file path")
    _prepare_output_folder(path.parent if str(path.parent) else Path("."),
                           what=f"folder of the {what}")
    return path


def _list_images(folder):
    """The image files of a folder, or the folder itself when it holds one DICOM series
    (denoised as one volume)."""
    from .io import is_image_file, is_series_folder

    if is_series_folder(folder):
        return [Path(folder)]
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p))


class _FileSet:
    """Input files, recognised by resolved path or by device and inode (hard links)."""

    def __init__(self, files=()):
        self.by_path, self.by_inode = {}, {}
        for p in files:
            self.add(p)

    def add(self, path):
        path = Path(path)
        self.by_path.setdefault(os.path.realpath(path), path)
        try:
            st = path.stat()
        except OSError:
            return
        self.by_inode.setdefault((st.st_dev, st.st_ino), path)

    def find(self, path):
        """The input file that writing ``path`` would replace, or None."""
        clash = self.by_path.get(os.path.realpath(path))
        if clash is None:
            try:
                st = Path(path).stat()
            except OSError:
                return None
            clash = self.by_inode.get((st.st_dev, st.st_ino))
        return clash


def _split_alpha(image):
    """(colour part, alpha or None); the colour part is (H, W) or (H, W, 3)."""
    if image.ndim == 3 and image.shape[-1] in (2, 4):
        colour, alpha = image[..., :-1], image[..., -1:]
        if colour.shape[-1] == 1:
            colour = colour[..., 0]
        return colour, alpha
    return image, None


# ------------------------------------------------------------------------------ denoise
@dataclass(frozen=True)
class _NoiseSettings:
    """The noise options of ``denoise``: --noise, --sigma and the known sensor parameters,
    all in each file's data units."""

    option: str = "auto"
    sigma: float | None = None
    gain: float | None = None
    read_noise: float | None = None
    black_level: float | None = None

    @property
    def given(self):
        """The names of the sensor parameters given on the command line."""
        return [name for name in ("gain", "read_noise", "black_level")
                if getattr(self, name) is not None]

    def check(self):
        """Usage errors: conflicting options, a noise-free model."""
        given = self.given
        if self.sigma is not None and (given or self.option == "poisson-gaussian"):
            raise CLIError("--sigma sets a white Gaussian noise level; it cannot be combined "
                           "with --noise poisson-gaussian, --gain, --read-noise or "
                           "--black-level")
        if given and self.option == "gaussian":
            raise CLIError("--gain, --read-noise and --black-level describe Poisson-Gaussian "
                           "sensor noise; they cannot be combined with --noise gaussian")
        if self.gain == 0 and self.read_noise == 0:
            raise CLIError("--gain 0 and --read-noise 0 describe noise-free data: there is "
                           "nothing to denoise")
        if len(given) == 3:
            from .noise import NoiseModel

            try:
                NoiseModel(self.gain, self.read_noise, self.black_level)
            except (TypeError, ValueError) as exc:
                raise CLIError(f"invalid sensor noise model: {exc}") from None

    def params(self, plane, name):
        """The estimators' ``sigma`` and ``noise_model`` for a file of which ``plane`` is
        one plane (its colour part), and where the noise comes from (None: what the
        estimator reports)."""
        from .noise import sigma_on_intensity_scale

        if self.given:
            model, source = _known_noise_model(plane, self, name)
            return {"sigma": None, "noise_model": model}, source
        if self.sigma is None:
            return {"sigma": None, "noise_model": self.option}, None
        if plane.dtype.kind in "ui" and self.sigma < 1:
            _warn(f"warning: {name}: --sigma {self.sigma:g} is in the file's units "
                  f"({plane.dtype} values): a noise standard deviation of "
                  f"{self.sigma / np.iinfo(plane.dtype).max:.2g} of the range")
        try:
            sigma = sigma_on_intensity_scale(self.sigma, plane.dtype)
        except ValueError as exc:
            raise ValueError(f"--sigma: {exc}") from None
        return {"sigma": sigma, "noise_model": self.option}, None


def _parameter_names(names):
    options = ["--" + name.replace("_", "-") for name in names]
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " and " + options[-1]


def _known_noise_model(plane, settings, name):
    """The Poisson-Gaussian model from the sensor parameters given, the others estimated
    by :class:`~sklearn_denoise.VarianceStabilizedDenoiser`'s rule."""
    from . import VarianceStabilizedDenoiser
    from .noise import NoiseModel

    if plane.ndim == 3:
        raise ValueError(f"--gain, --read-noise and --black-level describe single-channel "
                         f"sensor data; {name} has {plane.shape[-1]} channels")
    if settings.black_level is not None and settings.black_level > plane.max():
        raise ValueError(
            f"--black-level {settings.black_level:g} is above every value of {name} "
            f"(maximum {plane.max():g}): the black level is the value recorded for no "
            "light, in the file's data units (counts for integer files)"
        )
    given = settings.given
    if len(given) == 3:
        return NoiseModel(settings.gain, settings.read_noise, settings.black_level), "given"
    vst = VarianceStabilizedDenoiser(gain=settings.gain, read_noise=settings.read_noise,
                                     black_level=settings.black_level)
    model = vst.fit(plane[np.newaxis]).noise_models_[0][0]
    missing = [n for n in ("gain", "read_noise", "black_level") if n not in given]
    return model, f"{_parameter_names(given)} given, {_parameter_names(missing)} estimated"


class _Denoisers:
    """Builds the estimator of a method for each file (models are loaded once): the
    library's own estimator with the options as its parameters."""

    def __init__(self, method, model, settings, device="cpu", self_ensemble=1, *,
                 n_threads=None):
        from .methods import get_method

        self.n_threads = n_threads
        self.method = method
        self.spec = get_method(method)
        self.model = model
        self.settings = settings
        self.device = device
        self.self_ensemble = self_ensemble
        self._cnn = {}
        settings.check()
        missing = self.spec.unavailable()
        if missing is not None:
            raise CLIError(f"method {method} {missing}")
        if method != "cnn" and model is not None:
            raise CLIError("--model is only used with --method cnn")
        if method != "cnn" and self_ensemble != 1:
            raise CLIError("--self-ensemble is only used with --method cnn")
        if method == "cnn":
            self.noise_level_input = self._check_model()
            if not self.noise_level_input and (settings.option != "auto" or settings.given
                                               or settings.sigma is not None):
                raise CLIError(
                    f"the CNN model {self.model} has no noise-level input: --sigma, --noise, "
                    "--gain, --read-noise and --black-level do not apply to it"
                )

    def _check_model(self):
        """Check that the weights load; returns whether they take a noise level."""
        from .methods import CLASSICAL_NAMES
        from .models import available_models, model_config

        shipped = available_models()
        if self.model is None:
            if "gray" not in shipped:
                raise CLIError(
                    "no pretrained CNN model is shipped in this installation (available: "
                    f"{', '.join(shipped) or 'none'}): pass --model PATH with a weight file "
                    f"(train one with '{PROG} train'), or choose a classical --method "
                    f"({', '.join(CLASSICAL_NAMES)})"
                )
            noise_input = True
            for name in ("gray", "color"):  # the defaults for gray and RGB images
                if name in shipped:
                    try:
                        config = model_config(name)
                    except (ValueError, TypeError) as exc:
                        raise CLIError(f"cannot load the shipped model {name!r}: {exc}") \
                            from None
                    noise_input = noise_input and config["noise_level_input"]
            return noise_input
        if self.model not in shipped and not os.path.exists(self.model):
            raise CLIError(
                f"--model {self.model!r} is neither an existing weight file nor a shipped "
                f"model (shipped: {', '.join(shipped) or 'none'})"
            )
        try:
            return model_config(self.model)["noise_level_input"]
        except (ValueError, TypeError) as exc:
            raise CLIError(f"cannot load --model {self.model}: {exc}") from None

    def _cnn_for(self, n_channels):
        if n_channels not in self._cnn:
            from .models import load_cnn

            self._cnn[n_channels] = load_cnn(self.model, n_channels, device=self.device,
                                             self_ensemble=self.self_ensemble,
                                             n_threads=self.n_threads)
        return self._cnn[n_channels]

    def for_volume(self, volume, name, axes, noise_model=None):
        """The fitted estimator that denoises a gray (Z, H, W) ``volume`` (or the planes a
        long one is decided on) jointly, with its noise decided on it, and where the
        noise comes from; ValueError where the method cannot take volumes."""
        params, source = self.settings.params(volume[volume.shape[0] // 2], name)
        if noise_model is not None and self.settings.option == "auto" and (
                not self.settings.given):
            params["noise_model"] = noise_model
        if self.method == "cnn":
            key = ("volume", axes)
            if key not in self._cnn:
                from .models import load_cnn

                self._cnn[key] = load_cnn(self.model, 1, device=self.device,
                                          self_ensemble=self.self_ensemble,
                                          n_threads=self.n_threads, axes=axes)
            est = self._cnn[key]
            if self.noise_level_input:
                est.set_params(**params)
        else:
            est = self.spec.denoiser(params["sigma"]).set_params(
                axes=axes, noise_model=params["noise_model"])
            est.fit(volume[np.newaxis])
        return est.for_image(volume[np.newaxis]), source

    def for_file(self, plane, name, noise_model=None):
        """The fitted estimator for a file of which ``plane`` (colour part, (H, W) or
        (H, W, 3)) is one plane, with its noise decided on that plane (``for_image``), and
        where the noise comes from."""
        n_channels = 1 if plane.ndim == 2 else plane.shape[-1]
        if n_channels >= 4:  # multi-band (RGBA lost its alpha before): the gray denoiser
            # on decorrelated components
            from . import MultibandDenoiser

            gray = self._cnn_for(1) if self.method == "cnn" else self.spec.denoiser(None)
            est = MultibandDenoiser(gray).fit(plane[np.newaxis])
            return est.for_image(plane[np.newaxis]), None
        params, source = self.settings.params(plane, name)
        if noise_model is not None and self.settings.option == "auto" and (
                not self.settings.given):  # the file's modality tells (MR: rician)
            params["noise_model"] = noise_model
        if self.method == "cnn":
            est = self._cnn_for(n_channels)
            if self.noise_level_input:
                est.set_params(**params)
        else:
            est = self.spec.denoiser(params["sigma"], color=n_channels == 3)
            est.set_params(noise_model=params["noise_model"]).fit(plane[np.newaxis])
        return est.for_image(plane[np.newaxis]), source


def _describe_noise(decision, dtype, source):
    """What ``denoise`` prints of a file's noise, in the file's units."""
    return decision.describe(dtype, source or decision.noise_source)


def _denoise_bands(denoise, plane):
    """Denoise one multi-band plane (no alpha channel)."""
    return _denoise_plane(denoise, plane, bands=True)


def _denoise_plane(denoise, plane, *, bands=False):
    """Denoise one plane, leaving its alpha channel as it is (multi-band images have
    none)."""
    colour, alpha = (plane, None) if bands else _split_alpha(plane)
    result = np.asarray(denoise(colour))
    if result.shape != colour.shape or result.dtype != colour.dtype:
        raise ValueError(f"the denoiser returned {result.dtype} {result.shape} for "
                         f"{colour.dtype} {colour.shape}")
    if alpha is not None:
        result = np.concatenate([result if result.ndim == 3 else result[..., np.newaxis],
                                 alpha], axis=-1)
    return result


def _joint_axes(image_file, axes):
    """The axes a stack file is denoised jointly along ("ZYX" or "TYX"), or None (plane
    by plane): stacks of gray planes along one axis (axes of length 1 aside: a NIfTI
    volume stored as 4-D with one time point), unless --axes YX."""
    if axes == "YX" or not image_file.is_stack or len(image_file.plane_shape) != 2:
        return None
    leading = [a for a, n in zip(image_file.axes or "", image_file.shape)
               if a not in "YX" and n > 1]  # NIfTI: "XYZ"
    if len(leading) != 1 or image_file.n_planes < 2:
        if axes != "auto":
            raise ValueError(f"--axes {axes} needs a stack with one axis of planes; this "
                             f"one is {image_file.axes} {image_file.shape}")
        return None
    if axes != "auto":
        return axes
    return "TYX" if leading == ["T"] else "ZYX"


def _hdu_note(image_file):
    """Which image of a FITS file holding several is denoised (the first; the others
    are written back as they are), or ""."""
    info = image_file.metadata
    images = info.get("image_hdus", []) if isinstance(info, dict) else []
    if len(images) < 2:
        return ""
    index = info["index"]
    name = info["headers"][index].get("EXTNAME")
    named = f" {name!r}" if name else ""
    return (f" (HDU {index}{named}, the first of {len(images)} images; the others are "
            "copied as they are)")


def _decision_plane_indices(n_planes):
    from .tiling import decision_plane_indices

    return decision_plane_indices(n_planes)


def _denoise_volume_file(image_file, out, est, volume, quiet, overwrite):
    """Write a stack file denoised jointly along its planes by ``est`` (decided on the
    volume): a stack network in chunks of planes overlapped by its ``planes_margin()``
    (``volume`` None: the planes are read chunk by chunk), a classical method on the
    whole ``volume``."""
    from tqdm import tqdm

    from .io import write_image_planes

    n_planes = image_file.n_planes
    bar = tqdm(total=n_planes, unit="plane", desc=image_file.path.name, leave=False,
               disable=quiet, file=sys.stderr, dynamic_ncols=True)

    def denoised_planes():
        if volume is not None:  # the 3-D methods look along the whole volume
            result = _checked(est.transform(volume[np.newaxis])[0], volume)
            bar.update(n_planes)
            yield from result
            return
        margin, chunk = est.planes_margin(), _VOLUME_CHUNK_PLANES
        for start in range(0, n_planes, chunk):
            stop = min(start + chunk, n_planes)
            low, high = max(start - margin, 0), min(stop + margin, n_planes)
            planes = np.stack([image_file.plane(i) for i in range(low, high)])
            result = _checked(est.transform(planes[np.newaxis])[0], planes)
            bar.update(stop - start)
            yield from result[start - low: stop - low]

    try:
        write_image_planes(out, denoised_planes(), image_file, overwrite=overwrite)
    finally:
        bar.close()


#: Planes a stack network denoises at once from a file (plus its margin on each side).
_VOLUME_CHUNK_PLANES = 16


def _checked(result, planes):
    result = np.asarray(result)
    if result.shape != planes.shape or result.dtype != planes.dtype:
        raise ValueError(f"the denoiser returned {result.dtype} {result.shape} for "
                         f"{planes.dtype} {planes.shape}")
    return result


def _denoise_file(path, out, denoisers, max_pixels, report, overwrite=False, *,
                  axes="auto", quiet=True):
    """Denoise one file into ``out``: a stack jointly along its planes (``axes``, see
    :func:`_joint_axes`), else plane by plane with the noise decided once on its middle
    plane; reports that noise. Without ``overwrite``, a file at ``out`` is never
    replaced (FileExistsError), even one that appeared while this file was denoised."""
    from .io import open_image, write_image_planes

    with open_image(path, max_pixels=max_pixels) as image_file:
        joint = _joint_axes(image_file, axes)
        if joint is not None:
            cnn = denoisers.method == "cnn"
            indices = (_decision_plane_indices(image_file.n_planes) if cnn
                       else np.arange(image_file.n_planes))
            deciding = np.stack([image_file.plane(int(i)) for i in indices])
            try:
                est, source = denoisers.for_volume(
                    deciding, path, joint, noise_model=image_file.metadata.get("noise_model"))
            except ValueError as exc:
                if axes != "auto":
                    raise ValueError(f"--axes {axes}: {exc}") from None
                report(f"{path}: {denoisers.method} cannot denoise the stack jointly "
                       f"({exc}): plane by plane")
            else:
                where = "" if len(indices) == image_file.n_planes else (
                    f", noise from {len(indices)} of them")
                report(f"{path}{_hdu_note(image_file)} (stack of {image_file.n_planes} "
                       f"planes {image_file.axes}, "
                       f"denoised jointly{where}): "
                       f"{_describe_noise(est.decision_, deciding.dtype, source)}")
                volume = None if cnn else deciding
                _denoise_volume_file(image_file, out, est, volume, quiet, overwrite)
                return
        middle = image_file.n_planes // 2
        bands = image_file.metadata.get("tiff", {}).get("bands", False)  # 4 bands, no alpha
        reference = image_file.plane(middle) if bands else _split_alpha(
            image_file.plane(middle))[0]
        hint = image_file.metadata.get("noise_model")  # DICOM MR, ultrasound
        est, source = denoisers.for_file(reference, path, noise_model=hint)
        where = ""
        if image_file.is_stack and image_file.n_planes > 1:
            where = (f" (stack of {image_file.n_planes} planes {image_file.axes}, noise "
                     f"from plane {middle + 1})")
        report(f"{path}{_hdu_note(image_file)}{where}: "
               f"{_describe_noise(est.decision_, reference.dtype, source)}")

        def denoise(image):
            return est.transform(image[np.newaxis])[0]

        denoise_plane = _denoise_bands if bands else _denoise_plane
        write_image_planes(out, (denoise_plane(denoise, p) for p in image_file.planes()),
                           image_file, overwrite=overwrite)


def _collect_inputs(inputs):
    """Files to process (in order, without duplicates) and the inputs that do not exist."""
    files, missing, seen = [], [], set()
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            candidates = _list_images(path)
        elif path.exists():
            candidates = [path]
        else:
            missing.append(path)
            continue
        for p in candidates:
            key = os.path.realpath(p)
            if key not in seen:
                seen.add(key)
                files.append(p)
    return files, missing


def _list_models():
    """One line per shipped model: its name and what it is."""
    from .models import model_descriptions

    described = model_descriptions()
    if not described:
        print("no pretrained models are shipped")
        return
    width = max(map(len, described))
    for name, description in described.items():
        print(f"{name:<{width}}  {description}".rstrip())


def _cmd_denoise(args):
    from tqdm import tqdm

    from .io import ImageFileError, ImageWriteError

    if args.list_models:
        _list_models()
        return 0
    if not args.inputs or args.output is None:
        args.parser.error("give the input files or folders and -o OUTDIR")
    files, missing = _collect_inputs(args.inputs)
    if not files and not missing:
        from .io import SUPPORTED_EXTENSIONS

        raise CLIError(f"no images found in the inputs (supported: "
                       f"{', '.join(SUPPORTED_EXTENSIONS)})")
    outdir = Path(args.output)
    targets = {}
    for p in files:
        out = outdir / p.name
        if out.name in targets:
            raise CLIError(
                f"two inputs would be written to the same output file {out}: "
                f"{targets[out.name]} and {p}; denoise them into different folders"
            )
        targets[out.name] = p
    inputs = _FileSet(files)
    for name in targets:
        clash = inputs.find(outdir / name)
        if clash is not None:
            raise CLIError(
                f"refusing to overwrite input file {clash}: the output folder {outdir} "
                "would replace it; choose another output folder with -o"
            )
    existing = [outdir / name for name in targets
                if os.path.lexists(outdir / name)] if outdir.is_dir() else []
    if existing and not args.overwrite:
        shown = ", ".join(str(p) for p in existing[:3])
        more = f" and {len(existing) - 3} more" if len(existing) > 3 else ""
        raise CLIError(
            f"{len(existing)} output file(s) already exist: {shown}{more}; pass --overwrite "
            "to replace them, or choose another output folder with -o"
        )
    settings = _NoiseSettings(option=args.noise, sigma=args.sigma, gain=args.gain,
                              read_noise=args.read_noise, black_level=args.black_level)
    method = args.method
    if args.method == "cnn":
        method += f" ({_setup_torch(args)})"
    denoisers = _Denoisers(args.method, args.model, settings, args.device, args.self_ensemble,
                           n_threads=args.threads)
    _prepare_output_folder(outdir)

    failed = len(missing)
    for path in missing:
        _error(f"{path}: no such file or folder")
    done = 0
    start = time.perf_counter()
    bar = tqdm(files, unit="image", desc=f"denoise ({args.method})", disable=args.quiet,
               file=sys.stderr, dynamic_ncols=True)

    def report(line):
        tqdm.write(line, file=sys.stdout)

    try:
        for path in bar:
            try:
                _denoise_file(path, outdir / path.name, denoisers, args.max_pixels, report,
                              overwrite=args.overwrite, axes=args.axes, quiet=args.quiet)
                done += 1
            except FileExistsError:
                failed += 1
                tqdm.write(f"{PROG}: error: {path}: {outdir / path.name} appeared while it "
                           "was denoised (another run writing the same name?) and was not "
                           "replaced; pass --overwrite to replace it", file=sys.stderr)
            except (ImageFileError, ImageWriteError) as exc:
                failed += 1
                tqdm.write(f"{PROG}: error: {exc}", file=sys.stderr)
            except (ValueError, TypeError, RuntimeError, OSError, MemoryError) as exc:
                failed += 1
                tqdm.write(f"{PROG}: error: {path}: cannot denoise: {exc}", file=sys.stderr)
    finally:
        bar.close()
    elapsed = time.perf_counter() - start
    total = len(files) + len(missing)
    summary = f"denoised {done} of {total} image{'s' if total != 1 else ''} into {outdir} " \
              f"with {method} in {elapsed:.1f} s"
    if failed:
        summary += f"; {failed} failed (see the errors above)"
    print(summary, file=sys.stderr)
    return EXIT_FAILED if failed else 0


# ------------------------------------------------------------------------------ compare
DEFAULT_COMPARE_SIZE = 256
DEFAULT_FIGURE_CROP = 96


def _check_figure_options(args, image, name):
    """--figure-sigmas among --sigma, --crop inside the figure's image; only with
    --figure."""
    from .compare import check_crop

    if args.figure is None:
        if args.crop is not None or args.figure_sigmas is not None:
            raise CLIError("--crop and --figure-sigmas describe the figure: add --figure "
                           "PATH")
        return
    if args.figure_sigmas not in (None, "all"):
        missing = [s for s in args.figure_sigmas if s not in args.sigmas]
        if missing:
            raise CLIError(f"--figure-sigmas {','.join(f'{s:g}' for s in missing)} is not "
                           f"among the noise levels run (--sigma "
                           f"{','.join(f'{s:g}' for s in args.sigmas)})")
    if args.crop is not None:
        try:
            check_crop(args.crop, image.shape)
        except ValueError as exc:
            raise CLIError(f"--crop {','.join(map(str, args.crop))} for image {name} "
                           f"(--figure-image {args.figure_image}): {exc}") from None


def _cmd_compare(args):
    from . import compare as cmp

    if args.figure is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise CLIError("--figure needs matplotlib: pip install matplotlib") from None
        fig_path = Path(args.figure)
        if fig_path.is_dir():
            raise CLIError(f"--figure {fig_path} is a folder; give a file path like fig.png")
    if args.images is not None and not Path(args.images).is_dir():
        raise CLIError(f"--images {args.images} is not a folder")
    if args.figure is not None:
        inputs = _FileSet(_list_images(args.images) if args.images is not None else ())
        if args.model is not None and os.path.isfile(args.model):
            inputs.add(args.model)
        _refuse_input(fig_path, inputs, "--figure")
        _check_file_destination(fig_path, "figure")
    size = args.size
    if size is None:
        size = DEFAULT_COMPARE_SIZE if args.images is None else 0
    try:
        images, names = cmp.load_images(args.images, size=size or None,
                                        max_images=args.max_images, color=args.color)
    except ValueError as exc:  # includes ImageFileError
        raise CLIError(str(exc)) from None
    if not 0 <= args.figure_image < len(images):
        raise CLIError(f"--figure-image {args.figure_image} but there are {len(images)} images")
    _check_figure_options(args, images[args.figure_image], names[args.figure_image])

    slow_skipped = []
    if args.methods in (None, "all"):
        include = None
    else:
        include = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not include:
            raise CLIError("--methods is empty")
    try:
        methods = cmp.default_methods(model=args.model, include=include,
                                      cnn_params={"device": args.device,
                                                  "n_threads": args.threads})
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    if args.model is not None and "cnn" in methods.skipped:
        raise CLIError(f"--model: {methods.skipped['cnn']}")
    if args.methods is None:
        for name in [n for n, m in methods.items() if m.slow]:
            slow_skipped.append(name)
            del methods[name]
            methods.skipped[name] = (
                "slow, skipped by default; include it with --methods all or --methods "
                f"{name},..."
            )
    if not methods:
        raise CLIError("no method to run: " + "; ".join(
            f"{k}: {v}" for k, v in methods.skipped.items()))
    runs_on = f" The CNN ran on {_setup_torch(args)}." if "cnn" in methods else ""
    shapes = sorted({img.shape for img in images})
    source = args.images or \
        f"bundled {'colour' if args.color is True else 'grayscale'} sample images"
    forced = {True: " in colour (--color)", False: " in grayscale (--gray)"}.get(args.color, "")
    crop = f", centre-cropped to at most {size}x{size}" if size else ""
    title = (f"## sklearn-denoise compare: {len(images)} image(s) from {source}{forced}{crop} "
             f"(shapes {', '.join('x'.join(map(str, s)) for s in shapes)}); noise seed "
             f"{args.seed}")
    start = time.perf_counter()
    result = cmp.run_comparison(images, args.sigmas, methods, seed=args.seed,
                                keep_image=args.figure_image, names=names,
                                progress=not args.quiet)
    elapsed = time.perf_counter() - start
    sys.stdout.write(cmp.to_markdown(result, title=title))
    print(f"\nImages: {', '.join(names)}. Total time {elapsed:.1f} s.{runs_on}")
    if args.figure is not None:
        shown = {"sigma": args.figure_sigmas, "crop": args.crop or DEFAULT_FIGURE_CROP}
        try:
            path = cmp.save_figure(result, args.figure, **shown)
        except (OSError, ValueError) as exc:
            raise CLIError(f"cannot write the figure {args.figure}: {exc}") from None
        x, y, w, h = cmp.figure_crop(result, **shown)
        print(f"Figure written to {path}: image {names[args.figure_image]}, crop "
              f"{x},{y},{w},{h} (x,y,w,h).")
    failed = [k for k, v in result.skipped.items() if v.startswith("failed")]
    return EXIT_FAILED if failed else 0


# ------------------------------------------------------------------------------ train
def _training_files(folder, what):
    folder = Path(folder)
    if not folder.is_dir():
        raise CLIError(f"--{what} {folder} is not a folder")
    files = _list_images(folder)
    if not files:
        raise CLIError(f"--{what} {folder} holds no PNG/JPEG/TIFF images")
    return files


def _read_training_folder(folder, what, max_pixels=None):
    from .io import ImageFileError, read_image, to_float

    images, too_small = {}, []
    for path in _training_files(folder, what):
        try:
            image = read_image(path, max_pixels=max_pixels)
        except ImageFileError as exc:
            _warn(f"skipped: {exc}")
            continue
        if min(image.shape[:2]) < MIN_TRAIN_SIZE:
            too_small.append(f"{path} ({image.shape[1]}x{image.shape[0]})")
            continue
        colour, _ = _split_alpha(image)
        images[path.stem] = to_float(colour).astype(np.float32)
    if too_small:
        more = f" and {len(too_small) - 3} more" if len(too_small) > 3 else ""
        raise CLIError(
            f"training images must be at least {MIN_TRAIN_SIZE}x{MIN_TRAIN_SIZE} pixels; "
            f"too small in --{what}: {', '.join(too_small[:3])}{more}"
        )
    if not images:
        raise CLIError(f"--{what} {folder}: none of the images could be read")
    return images


def _channels(image):
    return image.shape[-1] if image.ndim == 3 else 1


def _training_data(args):
    if args.clean is None and args.noisy is None:
        raise CLIError("give --clean DIR, --noisy DIR or both (see --help)")
    clean = _read_training_folder(args.clean, "clean", args.max_pixels) if args.clean else None
    noisy = _read_training_folder(args.noisy, "noisy", args.max_pixels) if args.noisy else None
    if clean is not None and noisy is not None:
        if args.sigma is not None:
            raise CLIError("--sigma is for synthetic noise (--clean alone); with --noisy "
                           "the noise is in the images")
        names = sorted(set(clean) & set(noisy))
        for name in sorted(set(clean) ^ set(noisy)):
            side = "clean" if name in clean else "noisy"
            _warn(f"skipped: {name} has no matching file in the other folder (only in "
                  f"--{side})")
        if not names:
            raise CLIError("no clean/noisy pairs: the folders have no file names in common")
        for name in names:
            if clean[name].shape != noisy[name].shape:
                raise CLIError(f"pair {name}: clean image {clean[name].shape} and noisy "
                               f"image {noisy[name].shape} differ in shape")
        X, y, mode = [noisy[n] for n in names], [clean[n] for n in names], "supervised"
    elif clean is not None:
        X, y, mode = list(clean.values()), None, "synthetic"
    else:
        if args.sigma is not None:
            raise CLIError("--sigma is for synthetic noise (--clean alone); it does not "
                           "apply to self-supervised training on --noisy images")
        X, y, mode = list(noisy.values()), None, "self_supervised"
    channels = {_channels(img) for img in X}
    if len(channels) > 1:
        raise CLIError("the training images mix grayscale and colour images; use one kind")
    return X, y, mode, channels.pop()


def _load_checkpoint(path, verbose, device, **params):
    from . import CNNDenoiser

    try:
        return CNNDenoiser.load_checkpoint(path, verbose=verbose, device=device, **params)
    except (ValueError, TypeError) as exc:
        raise CLIError(f"cannot resume from the checkpoint {path}: {exc} Delete it to start "
                       "over.") from None


def _check_train_destinations(args, out, ckpt):
    """Refuse an --out or --checkpoint that is an input file or the other destination."""
    inputs = _FileSet()
    for folder, what in ((args.clean, "clean"), (args.noisy, "noisy")):
        if folder is not None:
            for path in _training_files(folder, what):
                inputs.add(path)
    if args.init is not None and os.path.isfile(args.init):
        inputs.add(args.init)
    _refuse_input(out, inputs, "--out")
    if ckpt is not None:
        _refuse_input(ckpt, inputs, "--checkpoint")
        if _FileSet([ckpt]).find(out) is not None:
            raise CLIError(f"--out and --checkpoint are the same file {out}; the model would "
                           "replace the checkpoint")


def _learning_rate(args):
    """--lr, or its default: 1e-3 from scratch, the fine-tuning rate (1e-4) from --init."""
    from .methods import FINE_TUNING_LR

    if args.lr is not None:
        return args.lr
    return FINE_TUNING_LR if args.init is not None else 1e-3


def _new_estimator(args, mode, n_channels):
    from . import CNNDenoiser

    params = dict(
        architecture=args.architecture, depth=args.depth, width=args.width,
        blocks=args.blocks, patch_size=args.patch_size,
        patches_per_image=args.patches_per_image, batch_size=args.batch_size,
        lr=_learning_rate(args), loss=args.loss, max_epochs=args.epochs,
        validation_fraction=args.validation_fraction,
        init_weights=args.init, random_state=args.seed, verbose=0 if args.quiet else 1,
        device=args.device, n_threads=args.threads,
    )
    if mode == "synthetic":
        low, high = args.sigma if args.sigma is not None else (0.0, 55.0)
        params["train_sigma"] = (low / 255.0, high / 255.0)
    if args.init is not None:
        from .models import available_models, channel_strategy_for, model_config

        if args.init not in available_models() and not os.path.exists(args.init):
            raise CLIError(f"--init {args.init!r} is neither a weight file nor a shipped "
                           f"model (shipped: {', '.join(available_models()) or 'none'})")
        try:
            config = model_config(args.init)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"cannot load --init {args.init}: {exc}") from None
        try:
            params["channel_strategy"] = channel_strategy_for(config["channels"], n_channels,
                                                              f"--init {args.init}")
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    try:
        est = CNNDenoiser(**params)
        # refused now rather than after training
        est.network_config(n_channels, self_supervised=mode == "self_supervised")
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    return est


def _cmd_train(args):
    if args.clean is None and args.noisy is None:
        raise CLIError("give --clean DIR, --noisy DIR or both (see --help)")
    out = Path(args.out)
    ckpt = Path(args.checkpoint) if args.checkpoint else None
    _check_train_destinations(args, out, ckpt)
    _check_file_destination(out, "output model")
    if ckpt is not None:
        _check_file_destination(ckpt, "checkpoint")
    X, y, mode, n_channels = _training_data(args)
    runs_on = _setup_torch(args)
    say = (lambda msg: None) if args.quiet else (lambda msg: print(msg, flush=True))

    if ckpt is not None and ckpt.exists():
        est = _load_checkpoint(ckpt, verbose=0 if args.quiet else 1, device=args.device,
                               lr=_learning_rate(args), max_epochs=args.epochs,
                               loss=args.loss,
                               n_threads=args.threads)
        if est.training_mode_ != mode:
            raise CLIError(f"the checkpoint {ckpt} was trained in {est.training_mode_} mode, "
                           f"these data are for {mode} training; use another --checkpoint")
        if est.n_channels_in_ != n_channels:
            raise CLIError(f"the checkpoint {ckpt} was trained on {est.n_channels_in_}-channel "
                           f"images, these have {n_channels}")
        done = len(est.history_)
        say(f"resuming from {ckpt}: {done} of {args.epochs} epochs done")
    else:
        est, done = _new_estimator(args, mode, n_channels), 0
    kind = {"supervised": "clean/noisy pairs", "synthetic": "clean images + synthetic noise",
            "self_supervised": "noisy images (self-supervised)"}[mode]
    say(f"training on {len(X)} {kind}, {args.epochs} epochs ({runs_on})")
    # the estimator's cosine schedule over --epochs: partial_fit continues it epoch by
    # epoch, also after a resume (the epoch count is the history's length)
    while done < args.epochs:
        try:
            est.partial_fit(X, y, epochs=1)
        except (ValueError, TypeError) as exc:
            raise CLIError(f"training failed: {exc}") from None
        done += 1
        if ckpt is not None:
            try:
                est.save_checkpoint(ckpt)
            except OSError as exc:
                raise CLIError(f"cannot write the checkpoint {ckpt}: "
                               f"{exc.strerror or exc}") from None
            except ValueError as exc:  # e.g. training diverged to non-finite weights
                raise CLIError(f"cannot write the checkpoint {ckpt}: {exc}") from None
    metadata = {"trained_with": f"{PROG} train", "mode": mode, "epochs": done,
                "n_images": len(X)}
    if mode == "synthetic":
        metadata["train_sigma_255"] = list(args.sigma or (0.0, 55.0))
    try:
        # float16, as the shipped weights: half the size, the same denoising within
        # float16 rounding (the checkpoint keeps float32 to resume exactly)
        est.save(out, metadata=metadata, half=True)
    except OSError as exc:
        raise CLIError(f"cannot write the model {out}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CLIError(f"cannot write the model {out}: {exc}") from None
    print(f"saved the model to {out} ({done} epochs, {mode})")
    return 0
