"""ImageDecision and for_image: what transform decides from an image, decided once."""

import numpy as np
import pytest

from sklearn_denoise import (
    CNNDenoiser,
    NLMeansDenoiser,
    TVDenoiser,
    WaveletDenoiser,
    available_models,
)
from sklearn_denoise.datasets import load_sample_images
from sklearn_denoise.noise import NoiseModel, gaussian, poisson_gaussian


def _counts():
    clean = load_sample_images()[0][64:160, 160:256] / 255
    raw = poisson_gaussian(60 * clean, gain=1, read_sigma=2, black_level=100, random_state=0)
    return np.rint(raw).astype(np.uint16)


def test_decisions_are_reported_in_the_data_units():
    counts = _counts()
    decision = WaveletDenoiser().fit(counts).for_image(counts).decision_
    model = decision.noise_in_data_units()
    assert isinstance(model, NoiseModel)
    assert model.gain == pytest.approx(1, rel=0.3)
    assert model.black_level == pytest.approx(100, abs=5)
    assert decision.describe(counts.dtype).startswith("poisson-gaussian noise, gain ")
    # a given sigma comes back as given, on the intensity scale
    image = gaussian(load_sample_images()[0][:96, :96] / 255, 0.1, random_state=0)
    given = NLMeansDenoiser(sigma=0.1).fit(image).for_image(image).decision_
    assert given.noise_source == "given"
    assert given.noise_in_data_units().sigma == pytest.approx(0.1)
    uint8 = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    estimated = TVDenoiser().fit(uint8).for_image(uint8).decision_
    assert estimated.noise_source == "estimated"
    assert "uint8 values" in estimated.describe(np.uint8)
    assert 20 < estimated.noise_in_data_units().sigma * 255 < 30


def _list_denoisers():
    denoisers = [WaveletDenoiser(), NLMeansDenoiser(), TVDenoiser()]
    if "gray" in available_models():
        denoisers.append(CNNDenoiser.pretrained("gray"))
    return denoisers


@pytest.mark.parametrize("den", _list_denoisers(), ids=lambda d: type(d).__name__)
def test_a_list_of_images_gets_each_images_own_decision(den):
    """A list of images of different sizes gives each image what it gets alone, also on
    sensor counts (one of them) next to white noise (the other)."""
    counts = _counts()
    white = np.clip(np.rint(gaussian(load_sample_images()[1][:80, :64] / 255, 0.08,
                                     random_state=1) * 65535), 0, 65535).astype(np.uint16)
    images = [counts, white]
    if not hasattr(den, "net_"):
        den.fit(images)
    out = den.transform(images)
    for image, result in zip(images, out):
        np.testing.assert_array_equal(result, den.transform(image[np.newaxis])[0])
        np.testing.assert_array_equal(result,
                                      den.for_image(image).transform(image[np.newaxis])[0])
    kinds = [den.for_image(image).decision_.describe(np.uint16).split(" noise")[0]
             for image in images]
    assert kinds[0] == "poisson-gaussian" and kinds[1].endswith("gaussian")
