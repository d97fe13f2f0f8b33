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


@pytest.mark.parametrize("shape", [(2, 1, 64, 64), (1, 3, 37, 50), (1, 1, 8, 9)])
def test_n2v2_unet_keeps_the_image_shape(shape):
    from sklearn_denoise._modules import N2V2UNet, receptive_radius

    module = N2V2UNet(channels=shape[1], depth=4, width=8, blocks=1)
    with torch.no_grad():
        assert module(torch.randn(shape)).shape == shape
    assert module.multiple == 8
    assert receptive_radius("n2v2", 4, 1) > receptive_radius("unet", 4, 1)


def test_n2v2_unet_has_no_global_residual_nor_top_skip():
    from sklearn_denoise._modules import N2V2UNet

    torch.manual_seed(0)
    module = N2V2UNet(channels=1, depth=3, width=8, blocks=1)
    torch.nn.init.zeros_(module.tail.weight)
    torch.nn.init.zeros_(module.tail.bias)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert torch.count_nonzero(module(x)) == 0  # the output is the tail's, not x + tail
        residual = N2V2UNet(channels=1, depth=3, width=8, blocks=1, residual=True)
        residual.load_state_dict(module.state_dict())
        torch.testing.assert_close(residual(x), x)
    # the full-resolution skip is dropped unless asked for: same weights, other output
    with_skip = N2V2UNet(channels=1, depth=3, width=8, blocks=1, top_skip=True)
    torch.manual_seed(1)
    plain = N2V2UNet(channels=1, depth=3, width=8, blocks=1)
    with_skip.load_state_dict(plain.state_dict())
    with torch.no_grad():
        assert not torch.allclose(with_skip(x), plain(x))
    strided = N2V2UNet(channels=1, depth=3, width=8, blocks=1, blur_pool=False)
    assert isinstance(strided.down[0][-1], torch.nn.Conv2d)
