import numpy as np
import pytest
import torch

from sklearn_denoise._modules import UNet, add_context_planes, build_module
from sklearn_denoise._weights import load_weights, save_weights

CONFIG = {"architecture": "unet", "channels": 1, "depth": 3, "width": 4, "blocks": 1,
          "noise_level_input": True}


@pytest.mark.parametrize("channels", [1, 3])
def test_added_context_planes_start_from_the_single_plane_output(channels):
    torch.manual_seed(0)
    single = UNet(channels, depth=3, width=4, noise_level_input=True).eval()
    stack = UNet(channels, depth=3, width=4, noise_level_input=True, context_planes=4).eval()
    stack.load_state_dict(add_context_planes(single.state_dict(), 4))
    image = torch.rand(2, channels + 1, 24, 20)
    neighbours = torch.rand(2, 4 * channels, 24, 20)
    with torch.no_grad():
        expected = single(image)
        got = stack(torch.cat([image, neighbours], dim=1))
    assert got.shape == (2, channels, 24, 20)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    # and the new inputs do take part once their weights move
    with torch.no_grad():
        stack.head.weight[:, channels + 1:] += 0.1
        moved = stack(torch.cat([image, neighbours], dim=1))
    assert (moved - expected).abs().max() > 1e-3


def test_context_planes_round_trip_through_a_weight_file(tmp_path):
    config = {**CONFIG, "context_planes": 2}
    module = build_module(**config)
    assert module.head.in_channels == 1 * 3 + 1
    path = save_weights(tmp_path / "w.pt", config, module.state_dict())
    loaded, state, _ = load_weights(path)
    assert loaded == config
    np.testing.assert_array_equal(state["head.weight"].numpy(),
                                  module.state_dict()["head.weight"].numpy())
    with pytest.raises(ValueError, match="shape"):  # tensors of a different stack width
        save_weights(path, {**config, "context_planes": 4}, module.state_dict())
        load_weights(path)


def test_cnn_denoiser_refuses_a_stack_network_it_cannot_feed(tmp_path):
    from sklearn_denoise import CNNDenoiser

    config = {**CONFIG, "context_planes": 2}
    path = save_weights(tmp_path / "w.pt", config, build_module(**config).state_dict())
    with pytest.raises(ValueError, match="stack network"):
        CNNDenoiser.load(path)
