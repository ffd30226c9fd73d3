"""ValidatePlan and the backends' spec checks: every refusal names its field as a path in the
request; a weights file is read only from the data roots, and must fit."""

import pytest
import torch

from robustseg_worker import data, models, safetensors_io
from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.engine_plan import PlanRequest
from robustseg_worker.errors import FailedPrecondition, InvalidArgument
from robustseg_worker.models import smp_encoders

SOURCE = ("synthetic_histology", {"tile_size": 32, "num_train": 8, "num_validation": 4, "num_test": 4, "seed": 1})
GRADIENT = {"kind": "gradient", "method": "pgd", "epsilon": 0.01, "steps": 3, "step_size": 0.0,
            "random_start": False, "seed": 0, "target": {"kind": "full_area_class", "full_area_class": 0}}
TRAINING = {"epochs": 1, "batch_size": 4, "learning_rate": 0.001, "seed": 0}


@pytest.fixture
def engine(tmp_path):
    return Engine(tmp_path / "ws")


def _plan(**fields):
    values = {"source": SOURCE[0], "source_params": dict(SOURCE[1]), "models": [("unet", {})],
              "trainings": [dict(TRAINING)], "attacks": [dict(GRADIENT)]}
    return PlanRequest(**{**values, **fields})


def test_a_good_plan_comes_back_resolved_without_creating_anything(engine):
    plan = _plan(models=[("unet", {"depth": 2}), ("smp", {"architecture": "fpn"}), ("monai", {"architecture": "UNet"})])
    checked = engine.validate_plan(plan)
    assert checked.class_names[0] == "background" and len(checked.class_names) == 6
    assert (checked.tile_height, checked.tile_width) == (32, 32)
    assert checked.models[0] == ("unet", {"depth": 2, "base_width": 64, "upsampling": "bilinear"})
    assert checked.models[1][1]["architecture"] == "FPN" and checked.models[1][1]["encoder"] == "resnet18"
    assert checked.models[2][1] == {"architecture": "UNet", "channels": [16, 32, 64, 128], "strides": [2, 2, 2],
                                    "num_res_units": 0, "feature_size": 0, "dropout": 0.0}
    assert engine.store.list_ids("dataset") == [] and engine.store.list_ids("model") == []


@pytest.mark.parametrize("change, field, words", [
    ({"models": [("unet", {}), ("resnet", {})]}, "models[1]", "unknown backend 'resnet'"),
    ({"models": [(None, {})]}, "models[0]", "must set one of: monai, smp, unet"),
    ({"models": [("smp", {"architecture": "UNetX"})]}, "models[0].smp.architecture", "Unet, UnetPlusPlus"),
    ({"models": [("unet", {}), ("smp", {"encoder": "resnet1000"})]}, "models[1].smp.encoder", "close: resnet10"),
    ({"models": [("smp", {"encoder": "tu-resnet_nope"})]}, "models[0].smp.encoder", "unknown timm model"),
    ({"models": [("smp", {"architecture": "DeepLabV3Plus", "encoder": "vgg11"})]}, "models[0].smp.encoder",
     "dilated"),
    ({"models": [("smp", {"encoder_depth": 9})]}, "models[0].smp.encoder_depth", "between 3 and 5"),
    ({"models": [("smp", {"encoder_weights": "imagenet"})]}, "models[0].smp.encoder_weights", "never downloads"),
    ({"models": [("unet", {"base_width": 4096})]}, "models[0].unet.base_width", "between 1 and 512"),
    ({"models": [("unet", {"depth": 8})]}, "models[0].unet.depth", "between 1 and 7"),
    ({"models": [("monai", {"architecture": "UNet", "channels": [4, 8, 16], "strides": [2]})]},
     "models[0].monai.strides", "2 for 3 channels"),
    ({"models": [("monai", {"architecture": "UNet", "channels": [4, 0, 16]})]}, "models[0].monai.channels[1]",
     "between 1 and 1024"),
    ({"models": [("monai", {"architecture": "BasicUNet", "channels": [4, 8]})]}, "models[0].monai.channels",
     "exactly 6"),
    ({"models": [("monai", {"architecture": "SwinUNETR", "feature_size": 18})]}, "models[0].monai.feature_size",
     "multiple of 12"),
    ({"models": [("monai", {"architecture": "SwinUNETR", "strides": [2]})]}, "models[0].monai.strides", "unset"),
    ({"models": [("monai", {"dropout": 1.5})]}, "models[0].monai.dropout", "< 1.0"),
    ({"trainings": [dict(TRAINING, epochs=0)]}, "trainings[0].epochs", "> 0"),
    ({"models": [("smp", {})], "trainings": [dict(TRAINING, batch_size=1)]}, "trainings[0].batch_size",
     "must be >= 2 for models[0]"),
    ({"attacks": [dict(GRADIENT), dict(GRADIENT, target={"kind": "full_area_class", "full_area_class": 6})]},
     "attacks[1].gradient.target.full_area_class", "[0, 6)"),
    ({"attacks": [{"kind": "layered_pgd", "epsilon": 0.01, "steps": 1, "class_order": [0, 0]}]},
     "attacks[0].layered_pgd.class_order[1]", "repeated"),
    ({"trainings": [dict(TRAINING), dict(TRAINING, adversarial={"method": "segpgd", "epsilon": 0.0, "steps": 1})]},
     "trainings[1].adversarial.epsilon", "> 0"),
    ({"attacks": [dict(GRADIENT), {"kind": "apgd", "epsilon": 0.01, "steps": 5, "loss": "hinge"}]},
     "attacks[1].apgd.loss", "MASKED_SPHERICAL"),
    ({"source": "folder", "source_params": {"path": "/nonexistent/tiles"}}, "source.folder.path", "no such folder"),
    ({"source": None, "num_classes": 0}, "num_classes", "required"),
])
def test_each_refusal_names_its_field(engine, change, field, words):
    with pytest.raises(InvalidArgument) as e:
        engine.validate_plan(_plan(**change))
    assert e.value.field == field and words in e.value.detail, str(e.value)


def test_attacks_use_num_classes_without_a_source(engine):
    checked = engine.validate_plan(_plan(source=None, num_classes=3))
    assert checked.class_names == [] and (checked.tile_height, checked.tile_width) == (0, 0)
    with pytest.raises(InvalidArgument, match="attacks\\[0\\].gradient.target.full_area_class"):
        engine.validate_plan(_plan(source=None, num_classes=3,
                                   attacks=[dict(GRADIENT, target={"kind": "full_area_class", "full_area_class": 3})]))


def test_train_refuses_what_validate_plan_refuses(engine):
    """The same checks, with the Train request's own field paths."""
    train = list(engine.create_dataset(*SOURCE))[-1].datasets
    with pytest.raises(InvalidArgument, match="^model.smp.encoder_weights: 'imagenet' would be downloaded"):
        list(engine.train(TrainRequest("smp", {"encoder_weights": "imagenet"}, [train[0].id], train[1].id, TRAINING)))
    with pytest.raises(InvalidArgument, match="^config.batch_size: must be >= 2"):
        list(engine.train(TrainRequest("smp", {}, [train[0].id], train[1].id, dict(TRAINING, batch_size=1))))


def test_smp_encoder_list_is_smps_own():
    import segmentation_models_pytorch as smp

    assert smp.__version__ == smp_encoders.PINNED_VERSION
    assert list(smp_encoders.ENCODERS) == smp.encoders.get_encoder_names()
    details = models.get("smp").details()
    assert details.available and details.encoders == list(smp_encoders.ENCODERS) and "Segformer" in details.architectures


def test_a_missing_package_is_reported_not_fatal(monkeypatch):
    from robustseg_worker.models import monai_backend, optional

    missing = optional.OptionalPackage("robustseg_no_such_package", "robustseg-no-such-package", "1.0")
    monkeypatch.setattr(monai_backend, "PACKAGE", missing)
    details = models.get("monai").details()
    assert not details.available and "pip install robustseg-no-such-package==1.0" in details.unavailable_reason
    with pytest.raises(FailedPrecondition, match="^models\\[0\\].monai: this worker cannot build it"):
        models.get("monai").resolve_spec({}, "models[0].monai")


# --- weights files -------------------------------------------------------------------------------


def _smp_net(encoder="resnet18", classes=3):
    backend = models.get("smp")
    spec = backend.resolve_spec({"encoder": encoder, "encoder_depth": 3}, "m")
    return backend, spec, backend.build(spec, classes, 3, None, None).net


def test_weights_file_outside_the_data_roots_is_refused(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir(), elsewhere.mkdir()
    _, _, net = _smp_net()
    safetensors_io.save_torch(net.encoder.state_dict(), elsewhere / "enc.safetensors")
    engine = Engine(tmp_path / "ws", data_paths=data.DataPaths([root]))
    with pytest.raises(InvalidArgument) as e:
        engine.validate_plan(_plan(models=[("smp", {"encoder_depth": 3, "weights_file": str(elsewhere / "enc.safetensors")})]))
    assert e.value.field == "models[0].smp.weights_file" and "outside the worker's data roots" in e.value.detail


def test_weights_files_of_the_encoder_or_the_whole_network_load_and_mismatches_are_named(tmp_path):
    backend, spec, source = _smp_net()
    paths = data.DataPaths([tmp_path])
    encoder_file, whole_file = tmp_path / "encoder.safetensors", tmp_path / "whole.pt"
    # An encoder checkpoint with its classifier (as torchvision ships them), and a whole network.
    safetensors_io.save_torch({**source.encoder.state_dict(), "fc.weight": torch.zeros(2, 2)}, encoder_file)
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, whole_file)
    for path, whole in ((encoder_file, False), (whole_file, True)):
        resolved = backend.resolve_spec({"encoder": "resnet18", "encoder_depth": 3, "weights_file": str(path)}, "m", paths)
        assert resolved["weights_file"] == str(path.resolve()) and len(resolved["weights_sha256"]) == 64
        net = backend.build(resolved, 3, 3, None, None).net
        state, want = net.state_dict(), source.state_dict()
        same = [torch.equal(state[k], want[k]) for k in want]
        assert all(same[:len(source.encoder.state_dict())]) and (all(same) if whole else not all(same))
    # resnet34's encoder has more blocks: the error names the field and a few keys.
    _, _, other = _smp_net("resnet34")
    safetensors_io.save_torch(other.encoder.state_dict(), tmp_path / "resnet34.safetensors")
    resolved = backend.resolve_spec({"encoder_depth": 3, "weights_file": str(tmp_path / "resnet34.safetensors")},
                                    "m", paths)
    with pytest.raises(InvalidArgument, match="^model.smp.weights_file: .* does not fit encoder resnet18: .*unexpected keys"):
        backend.build(resolved, 3, 3, None, None)
    # A whole network for another class count: shapes differ at the head.
    resolved = backend.resolve_spec({"encoder_depth": 3, "weights_file": str(whole_file)}, "m", paths)
    with pytest.raises(InvalidArgument, match="keys of another shape \\(e.g. segmentation_head"):
        backend.build(resolved, 5, 3, None, None)
