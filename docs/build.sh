#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors, running every example of the
# gallery. Needs the docs and dask extras:   pip install -e ".[docs,dask]"
# (bm3d is optional: without it the comparison example leaves BM3D out).
# Output: docs/_build/html/index.html. Pass "clean" to rebuild from scratch.
set -euo pipefail
cd "$(dirname "$0")"
python - <<'PY'
import importlib.util, sys
missing = [m for m in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme",
                       "matplotlib", "dask", "distributed") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"docs/build.sh: missing {', '.join(missing)}; run: pip install -e '.[docs,dask]'")
PY
if [ "${1:-}" = "clean" ]; then
    make clean
fi
# One torch/OpenMP thread unless told otherwise: on a machine busy with other work (a
# training run, parallel tests) two threads per process slow the CNN examples down more
# than tenfold, while on an idle machine one thread costs well under a factor of two.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
start=$(date +%s)
make html SPHINXOPTS="-W --keep-going"
echo "docs built in $(( $(date +%s) - start )) s: $(pwd)/_build/html/index.html"
