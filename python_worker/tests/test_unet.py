import pytest
import torch

from robustseg_worker import models
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.models.unet import UNet


@pytest.mark.parametrize("upsampling", ["bilinear", "transposed_conv"])
@pytest.mark.parametrize("depth, size", [(1, 7), (2, 16), (3, 17), (3, 30), (4, 5), (4, 33)])
def test_output_matches_input_size_for_any_tile(upsampling, depth, size):
    model = UNet(6, depth=depth, base_width=4, upsampling=upsampling).eval()
    x = torch.rand(2, 3, size, size + 3)
    with torch.no_grad():
        assert model(x).shape == (2, 6, size, size + 3)


def test_defaults_are_depth_4_base_64():
    model = models.build_model("unet", models.get("unet").resolve_spec({}, "model.unet"), 6)
    assert model.depth == 4
    assert model.stem[0].out_channels == 64
    assert model.down[-1][0].out_channels == 64 * 2**4


def test_gradients_reach_the_input_pixels():
    model = UNet(3, depth=2, base_width=4).eval()
    x = torch.rand(1, 3, 13, 13, requires_grad=True)
    model(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_normalisation_lives_inside_the_model_as_fixed_buffers():
    mean, std = [0.8, 0.6, 0.7], [0.1, 0.2, 0.15]
    model = UNet(4, depth=2, base_width=4, mean=mean, std=std).eval()
    reference = UNet(4, depth=2, base_width=4).eval()  # mean 0.5, std 0.5
    reference.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("input_")}, strict=False)
    x = torch.rand(2, 3, 16, 16)
    # model(x) == reference(x') where x' is x normalised by (mean, std) then mapped back
    # through the reference's (0.5, 0.5): the model normalises internally.
    m, s = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference((x - m) / s * 0.5 + 0.5), rtol=1e-4, atol=1e-4)
    names = {n for n, _ in model.named_parameters()}
    assert "input_mean" not in names and "input_std" not in names
    assert {"input_mean", "input_std"} <= set(model.state_dict())


@pytest.mark.parametrize("spec, field, message", [
    ({"depth": -1}, "model.unet.depth", "got -1"),
    ({"depth": 9}, "model.unet.depth", "between 1 and 7"),
    ({"base_width": -2}, "model.unet.base_width", "got -2"),
    ({"depth": 7, "base_width": 512}, "model.unet", "base_width * 2^depth"),
    ({"upsampling": "nearest"}, "model.unet.upsampling", "bilinear, transposed_conv"),
    ({"upsampling": 7}, "model.unet.upsampling", "got 7"),
])
def test_spec_validation_names_the_field(spec, field, message):
    with pytest.raises(InvalidArgument) as e:
        models.get("unet").resolve_spec(spec, "model.unet")
    assert e.value.field == field and message in str(e.value)


def test_resolved_spec_is_canonical():
    backend = models.get("unet")
    assert backend.resolve_spec({"depth": 0, "base_width": 0, "upsampling": None}, "m") == \
        backend.resolve_spec({"depth": 4, "base_width": 64, "upsampling": "bilinear"}, "m")


def test_registry_names_and_unknown_backend():
    assert "unet" in models.names()
    assert models.by_request_field("unet") is models.get("unet")
    with pytest.raises(InvalidArgument, match="unknown backend"):
        models.get("resnet")
