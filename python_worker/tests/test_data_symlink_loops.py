"""A symbolic link in a loop in a data folder: an image that loops is skipped with a warning; a
folder path that loops is an InvalidArgument naming the field and the path (it was an internal
error: pathlib's resolve raises RuntimeError for a loop)."""

import logging
import os

import numpy as np
import pytest
from PIL import Image

from robustseg_worker.data import DataPaths, folder
from robustseg_worker.errors import InvalidArgument


def write_pair(root, name):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(root / "images" / f"{name}.png")
    Image.fromarray(np.ones((8, 8), dtype=np.uint8), "L").save(root / "masks" / f"{name}.png")


def test_an_image_that_loops_is_skipped_with_a_warning(tmp_path, caplog):
    write_pair(tmp_path, "a")
    loop = tmp_path / "images" / "b.png"
    os.symlink(loop, loop)
    with caplog.at_level(logging.WARNING, logger="robustseg_worker.data.folder"):
        plans = folder.Folder().plan({"path": str(tmp_path), "class_names": ["bg", "x"]}, "source.folder")
    assert [name for p in plans for name, _, _ in p.state["pairs"]] == ["a"]
    assert f"{loop}: skipped: a symbolic link in a loop" in caplog.text


@pytest.mark.parametrize("allow_any", [True, False])
def test_a_folder_path_that_loops_names_the_field(tmp_path, allow_any):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    paths = DataPaths.unrestricted() if allow_any else DataPaths([tmp_path], allow_any=False)
    with pytest.raises(InvalidArgument) as e:
        folder.Folder().plan({"path": str(loop)}, "source.folder", paths=paths)
    assert e.value.field == "source.folder.path"
    assert str(e.value).startswith(f"source.folder.path: {loop}: cannot follow its symbolic links")
