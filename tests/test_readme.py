"""The README's example must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README.md has no python example"
    namespace = {}
    exec(compile(blocks[0], str(README), "exec"), namespace)
    search = namespace["search"]
    assert search.best_params_["wavelet"] in {"db1", "db2", "sym4"}
    assert search.best_score_ > 20  # PSNR in dB of the best wavelet on sigma-25 noise
    assert namespace["den"].training_mode_ == "supervised"  # partial_fit on pairs
