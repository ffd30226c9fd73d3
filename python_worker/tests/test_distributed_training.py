"""Data-parallel training through torchrun (gloo, 2 CPU processes) and its options."""

import math
from pathlib import Path

import pytest

from robustseg_worker.engine import Engine, TrainRequest
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.evaluation import evaluate
from robustseg_worker.events import EpochSummary, ModelTrained, Progress, TrainStep
from robustseg_worker.training import TrainingConfig
from robustseg_worker.training.distributed import DistributedOptions, check_batch, torchrun_command

SMALL = {"tile_size": 16, "num_train": 16, "num_validation": 4, "num_test": 0, "seed": 5}
UNET = {"depth": 2, "base_width": 4, "upsampling": "transposed_conv"}
CONFIG = {"epochs": 2, "batch_size": 8, "learning_rate": 0.01, "seed": 3, "augment": True}


def test_options_name_the_offending_field():
    assert not DistributedOptions.from_params({}).enabled
    assert DistributedOptions.from_params({"nproc_per_node": 2, "nnodes": 0}).world_size == 2
    cases = [
        ({"nproc_per_node": -1}, "distributed.nproc_per_node"),
        ({"nproc_per_node": 2, "nnodes": 2}, "distributed.rdzv_endpoint"),
        ({"nnodes": 2, "node_rank": 2, "rdzv_endpoint": "h:1"}, "distributed.node_rank"),
        ({"rdzv_endpoint": "no-port"}, "distributed.rdzv_endpoint"),
        ({"backend": "mpi"}, "distributed.backend"),
    ]
    for params, field in cases:
        with pytest.raises(InvalidArgument) as e:
            DistributedOptions.from_params(params)
        assert e.value.field == field
    config = TrainingConfig.from_params(CONFIG)
    with pytest.raises(InvalidArgument) as e:
        check_batch(DistributedOptions(nproc_per_node=5), config, 2)
    assert e.value.field == "distributed.nproc_per_node"


def test_torchrun_command_single_node_and_cluster():
    one = torchrun_command(DistributedOptions(nproc_per_node=2), Path("/j"), "m-1", python="py")
    assert one[:4] == ["py", "-m", "torch.distributed.run", "--nproc-per-node=2"]
    assert "--standalone" in one and one[-3:] == ["-m", "robustseg_worker.training.distributed", "/j"]
    cluster = torchrun_command(
        DistributedOptions(nproc_per_node=4, nnodes=2, node_rank=1, rdzv_endpoint="head:29400"), Path("/j"), "m-1")
    assert "--standalone" not in cluster
    for flag in ("--nnodes=2", "--node-rank=1", "--rdzv-backend=c10d", "--rdzv-endpoint=head:29400", "--rdzv-id=m-1"):
        assert flag in cluster


def test_two_gloo_processes_train_a_model_the_engine_stores(tmp_path):
    engine = Engine(tmp_path / "ws")
    created = list(engine.create_dataset("synthetic_histology", SMALL))[-1]
    train, validation = created.datasets[0], created.datasets[1]
    request = TrainRequest("unet", UNET, [train.id], validation.id, CONFIG,
                           distributed={"nproc_per_node": 2, "backend": "gloo"})
    events = list(engine.train(request))
    launch = [e for e in events if isinstance(e, Progress) and e.stage == "launch"]
    assert launch and "--nproc-per-node=2" in launch[0].message
    steps = [e for e in events if isinstance(e, TrainStep)]
    # 16 tiles in batches of 8, 2 epochs; every loss is the whole batch's (all ranks summed)
    assert [(s.epoch, s.step) for s in steps] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert all(math.isfinite(s.loss) and s.loss > 0 for s in steps)
    epochs = [e for e in events if isinstance(e, EpochSummary)]
    assert [e.epoch for e in epochs] == [1, 2]
    trained = events[-1]
    assert isinstance(trained, ModelTrained) and not trained.reused
    info = trained.model
    assert info.best_validation_loss == min(e.validation_loss for e in epochs)

    # The stored weights are rank 0's kept ones: they reproduce its validation loss.
    model, _ = engine.load_model(info.id)
    images, labels = engine._dataset_tensors([validation.id], "validation")
    gen = evaluate(model.eval(), images, labels, 6, 16)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            result = done.value
            break
    assert result.mean_loss == pytest.approx(info.best_validation_loss, rel=1e-5)

    # Data-parallel is its own model (BatchNorm sees each replica's rows), reused on a repeat.
    single = list(engine.train(TrainRequest("unet", UNET, [train.id], validation.id, CONFIG)))[-1]
    assert single.model.id != info.id
    assert list(engine.train(request))[-1].reused
    assert not list((tmp_path / "ws" / "tmp").glob("train-*"))  # the job folder is removed
