"""``python -m sklearn_denoise``: the ``sklearn-denoise`` command line."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
