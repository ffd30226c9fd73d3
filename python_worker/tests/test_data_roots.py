"""Data roots (docs/ARCHITECTURE.md section 12): file-based sources read only below the worker's data roots."""

import os

import grpc
import numpy as np
import pytest
from PIL import Image

from robustseg_worker.cli import parse_args
from robustseg_worker.data import DataPaths
from robustseg_worker.engine import Engine
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.proto.robustseg.v1 import data_pb2, worker_service_pb2, worker_service_pb2_grpc


def write_set(root, n=2):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        Image.fromarray(np.full((8, 8, 3), 40 * i, dtype=np.uint8)).save(root / "images" / f"t{i}.png")
        m = np.zeros((8, 8), dtype=np.uint8)
        m[:3, :3] = 1
        Image.fromarray(m).save(root / "masks" / f"t{i}.png")


@pytest.fixture
def layout(tmp_path):
    inside, outside = tmp_path / "root", tmp_path / "elsewhere"
    write_set(inside / "set")
    write_set(outside / "set")
    return inside, outside


def create(engine, path, **extra):
    *_, result = engine.create_dataset("folder", {"path": str(path), "class_names": ["bg", "x"], **extra})
    return result


def test_paths_outside_the_roots_are_refused(tmp_path, layout):
    inside, outside = layout
    engine = Engine(tmp_path / "ws", data_paths=DataPaths([inside], allow_any=True))
    assert create(engine, inside / "set").datasets[0].num_images == 2
    with pytest.raises(InvalidArgument) as e:
        create(engine, outside / "set")
    assert e.value.field == "source.folder.path"
    assert str(e.value).startswith(f"source.folder.path: {outside / 'set'} is outside the worker's data roots")
    with pytest.raises(InvalidArgument, match="outside"):
        create(engine, inside / ".." / "elsewhere" / "set")
    # a symlink inside a root that leads out of it
    os.symlink(outside / "set", inside / "link")
    with pytest.raises(InvalidArgument, match="outside"):
        create(engine, inside / "link")
    # a symlinked file below an allowed folder is checked too
    os.symlink(outside / "set" / "images" / "t0.png", inside / "set" / "images" / "t9.png")
    os.symlink(outside / "set" / "masks" / "t0.png", inside / "set" / "masks" / "t9.png")
    with pytest.raises(InvalidArgument, match="outside"):
        create(engine, inside / "set")
    # pannuke folds are checked the same way
    with pytest.raises(InvalidArgument) as e:
        list(engine.create_dataset("pannuke", {"train_folds": [str(outside)]}))
    assert e.value.field == "source.pannuke.train_folds[0]" and "outside" in str(e.value)


def test_no_roots_local_any_path_remote_none(tmp_path, layout):
    _, outside = layout
    assert create(Engine(tmp_path / "ws1"), outside / "set").datasets  # default: local use
    assert create(Engine(tmp_path / "ws2", data_paths=DataPaths(None, allow_any=True)), outside / "set").datasets
    with pytest.raises(InvalidArgument, match="--data-root"):
        create(Engine(tmp_path / "ws3", data_paths=DataPaths(None, allow_any=False)), outside / "set")
    # synthetic sources need no files and are unaffected
    engine = Engine(tmp_path / "ws4", data_paths=DataPaths(None, allow_any=False))
    *_, r = engine.create_dataset("kandinsky", {"tile_size": 16, "num_train": 1})
    assert r.datasets


def test_cli_flag(tmp_path):
    assert parse_args(["--data-root", str(tmp_path), "--data-root", str(tmp_path)]).data_root == [str(tmp_path)] * 2
    assert parse_args([]).data_root == []
    with pytest.raises(SystemExit):
        parse_args(["--data-root", str(tmp_path / "missing")])


def test_over_grpc(start_worker, layout):
    inside, outside = layout
    process = start_worker("--data-root", str(inside))
    with grpc.insecure_channel(process.address) as channel:
        stub = worker_service_pb2_grpc.WorkerServiceStub(channel)
        info = stub.GetInfo(worker_service_pb2.GetInfoRequest(), timeout=10)
        assert list(info.data_sources) == ["folder", "kandinsky", "pannuke", "synthetic-histology"]

        def request(path):
            return data_pb2.CreateDatasetRequest(source=data_pb2.DataSource(folder=data_pb2.FolderSource(
                path=str(path), class_names=["bg", "x"], test_fraction=0.5, seed=1)))

        result = list(stub.CreateDataset(request(inside / "set"), timeout=60))[-1].result
        assert [(d.split, d.num_images) for d in result.datasets] == [(1, 1), (3, 1)]
        assert list(result.datasets[0].class_names) == ["bg", "x"] and result.datasets[0].source == "folder"
        with pytest.raises(grpc.RpcError) as e:
            list(stub.CreateDataset(request(outside / "set"), timeout=60))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "source.folder.path" in e.value.details() and "outside the worker's data roots" in e.value.details()

        kandinsky = data_pb2.CreateDatasetRequest(source=data_pb2.DataSource(kandinsky=data_pb2.KandinskySource(
            tile_size=24, num_train=3, seed=2, labeling=data_pb2.KANDINSKY_LABELING_SHAPE,
            concept="contains a circle")))
        ds = list(stub.CreateDataset(kandinsky, timeout=60))[-1].result.datasets[0]
        assert list(ds.class_names) == ["background", "circle", "square", "triangle"]
        assert ds.tag_name == "concept" and len(ds.image_tags) == 3
        got = stub.GetDataset(data_pb2.GetDatasetRequest(dataset_id=ds.id), timeout=10).dataset
        assert got.tag_name == "concept" and list(got.image_tags) == list(ds.image_tags)
