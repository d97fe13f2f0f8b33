"""Sphinx configuration: numpydoc API reference, user guide and a sphinx-gallery of examples.

Build with ``make -C docs html`` (warnings are errors) or ``docs/build.sh``. The gallery
executes every script in ``../examples``; ``SPHINX_GALLERY_PLOT=0`` skips running them.
"""

import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sklearn_denoise  # noqa: E402

project = "sklearn-denoise"
author = "The sklearn-denoise developers"
copyright = "the sklearn-denoise developers"
release = sklearn_denoise.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py", "auto_examples/*.zip"]
root_doc = "index"
default_role = "literal"

# API reference ------------------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# HTML ---------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-denoise {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []
html_show_sourcelink = False

# Command-line reference: the --help text of every subcommand, generated from the parser
# itself at each build (one source of truth), included by cli.rst.
def _write_cli_help():
    import argparse

    from sklearn_denoise.cli import build_parser

    os.environ["COLUMNS"] = "92"  # argparse wraps to the terminal width
    out = Path(__file__).resolve().parent / "_generated"
    out.mkdir(exist_ok=True)
    parser = build_parser()
    (out / "cli_main.txt").write_text(parser.format_help())
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                (out / f"cli_{name}.txt").write_text(sub.format_help())


_write_cli_help()

# Gallery ------------------------------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", message="Matplotlib is currently using agg")

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "plot_gallery": os.environ.get("SPHINX_GALLERY_PLOT", "True"),
    "within_subsection_order": "FileNameSortKey",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "reset_modules": ("matplotlib",),
    "doc_module": ("sklearn_denoise",),
    "backreferences_dir": "gen_modules/backreferences",
    "min_reported_time": 0,
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
}
