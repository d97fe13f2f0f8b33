"""The function-preserving network surgery of the training recipe
(benchmarks/train_pretrained.py): a widened or deepened U-Net starts from exactly the
function of the weights it grew from."""

import sys
from pathlib import Path

import pytest
import torch

from sklearn_denoise._modules import build_module, module_class, module_kwargs
from sklearn_denoise._weights import load_weights, save_weights

ROOT = Path(__file__).resolve().parents[1]
CONFIG = {"architecture": "unet", "channels": 1, "depth": 3, "width": 4, "blocks": 1,
          "noise_level_input": True}


@pytest.fixture(scope="module")
def recipe():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import train_pretrained
    finally:
        sys.path.pop(0)
    return train_pretrained


@pytest.fixture
def small(tmp_path):
    torch.manual_seed(1)
    module = build_module(**CONFIG)
    with torch.no_grad():  # non-zero everywhere, so that nothing preserves by accident
        for p in module.parameters():
            p.normal_(0, 0.3)
    return save_weights(tmp_path / "small.pt", CONFIG, module.state_dict())


def _output(path, x):
    config, state, _ = load_weights(path)
    module = module_class(config["architecture"])(**module_kwargs(config))
    module.load_state_dict(state)
    with torch.no_grad():
        return config, module.eval()(x)


@pytest.mark.parametrize(
    "grow, expected",
    [
        (lambda r, src, out: r._widened(src, None, out, top_width=7), {"top_width": 7}),
        (lambda r, src, out: r._widened(src, 6, out), {"width": 6}),
        (lambda r, src, out: r._widened(src, 6, out, top_width=9), {"width": 6, "top_width": 9}),
        (lambda r, src, out: r._deepened(src, 2, out), {"blocks": 2, "bottom_blocks": 2}),
    ],
)
def test_grown_networks_compute_the_same_function(recipe, small, tmp_path, grow, expected):
    x = torch.rand(2, 2, 24, 32, generator=torch.Generator().manual_seed(0))
    before = _output(small, x)[1]
    config, after = _output(grow(recipe, str(small), tmp_path / "grown.pt"), x)
    assert config == {**CONFIG, **expected}
    torch.testing.assert_close(after, before, rtol=0, atol=1e-5)
    assert sum(t.numel() for t in load_weights(tmp_path / "grown.pt")[1].values()) > sum(
        t.numel() for t in load_weights(small)[1].values())


def test_growing_must_grow(recipe, small, tmp_path):
    with pytest.raises(ValueError, match="narrower"):
        recipe._widened(str(small), 4, tmp_path / "same.pt")
    with pytest.raises(ValueError, match="narrower"):
        recipe._widened(str(small), None, tmp_path / "narrow.pt", top_width=3)
    with pytest.raises(ValueError, match="fewer than 1 blocks"):
        recipe._deepened(str(small), 1, tmp_path / "same.pt")
