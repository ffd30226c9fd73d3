"""The embedding API (serve, start_server, load_model) checks its arguments before anything starts:
one path where a list of data roots belongs is a list of that one folder (never its characters),
a wrong type is a TypeError and a value out of range a ValueError, each naming the argument; and
the public functions carry complete type annotations, checked by a type checker when one is
installed."""

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import torch

from robustseg_worker import embedding
from robustseg_worker.errors import InvalidArgument
from robustseg_worker.events import ModelInfo
from robustseg_worker.server import WorkerServer


@pytest.fixture
def started():
    servers = []
    yield servers.append
    for server in servers:
        server.stop(0)


@pytest.mark.parametrize("as_type", [str, Path], ids=["str", "PathLike"])
def test_one_data_root_path_is_a_list_of_that_folder(tmp_path, started, as_type):
    root = tmp_path / "only-here"
    root.mkdir()
    server = embedding.start_server(tmp_path / "ws", "127.0.0.1:0", device="cpu", data_roots=as_type(root))
    started(server)
    paths = server.engine.data_paths
    assert paths.roots == (root.resolve(),) and not paths.allow_any
    assert paths.check(root / "tiles", "path") == (root / "tiles").resolve()
    with pytest.raises(InvalidArgument, match="outside the worker's data roots"):
        paths.check(tmp_path, "path")  # "/" and the other characters of the string are no roots


def test_a_list_of_data_roots_keeps_every_folder(tmp_path, started):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    server = embedding.start_server(tmp_path / "ws", "127.0.0.1:0", device="cpu", data_roots=[str(first), second])
    started(server)
    assert server.engine.data_paths.roots == (first.resolve(), second.resolve())


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"data_roots": ["ok", 3]}, TypeError, "data_roots[1]: must be a path (str or os.PathLike), got int"),
    ({"data_roots": b"/data"}, TypeError, "data_roots: must be a path or a list of paths, got bytes"),
    ({"data_roots": 7}, TypeError, "data_roots: must be a path or a list of paths, got int"),
    ({"data_roots": ["ok", "no-such-folder"]}, ValueError, "data_roots[1]: no-such-folder: no such folder"),
    ({"data_roots": "a-file"}, ValueError, "data_roots[0]: a-file: not a folder"),
    ({"workspace": None}, TypeError, "workspace: must be a path (str or os.PathLike), got NoneType"),
    ({"workspace": ""}, ValueError, "workspace: must not be empty"),
    ({"listen": 50051}, TypeError, "listen: must be a str, got int"),
    ({"token": 1234}, TypeError, "token: must be a str, got int"),
    ({"tls_cert": 5}, TypeError, "tls_cert: must be a path (str or os.PathLike), got int"),
    ({"insecure": "yes"}, TypeError, "insecure: must be True or False, got str"),
    ({"max_message_mb": 0}, ValueError, "max_message_mb: must be between 1 and 2047, got 0"),
    ({"max_message_mb": 64.0}, TypeError, "max_message_mb: must be an int, got float"),
    ({"max_message_mb": True}, TypeError, "max_message_mb: must be an int, got bool"),
    ({"threads": -1}, ValueError, "threads: must be >= 0, got -1"),
    ({"max_image_pixels": 0}, ValueError, "max_image_pixels: must be >= 1, got 0"),
    ({"max_memory_gb": math.nan}, ValueError, "max_memory_gb: must be a finite number > 0 and < 1e+06, got nan"),
    ({"max_memory_gb": math.inf}, ValueError, "max_memory_gb: must be a finite number > 0 and < 1e+06, got inf"),
    ({"max_memory_gb": 0}, ValueError, "max_memory_gb: must be a finite number > 0 and < 1e+06, got 0"),
])
def test_a_wrong_argument_is_refused_by_name_before_anything_starts(tmp_path, monkeypatch, arguments, error, message):
    monkeypatch.chdir(tmp_path)
    Path("ok").mkdir()
    Path("a-file").write_text("")
    options = {"workspace": tmp_path / "ws", "listen": "127.0.0.1:0", "device": "cpu", **arguments}
    with pytest.raises(error) as raised:
        embedding.start_server(**options)
    assert str(raised.value) == message
    assert not (tmp_path / "ws").exists()


def test_serve_checks_its_own_argument_and_passes_the_rest_on(tmp_path):
    with pytest.raises(ValueError, match=r"^parent_pid: must be >= 0, got -1$"):
        embedding.serve(tmp_path / "ws", parent_pid=-1)
    with pytest.raises(TypeError, match=r"^data_roots: must be a path or a list of paths, got int$"):
        embedding.serve(tmp_path / "ws", data_roots=5)  # type: ignore[arg-type]
    assert not (tmp_path / "ws").exists()


def test_load_model_names_a_wrong_argument(tmp_path):
    with pytest.raises(TypeError, match=r"^model_id: must be a str, got NoneType$"):
        embedding.load_model(tmp_path, None)  # type: ignore[arg-type]


def test_the_public_functions_are_completely_annotated():
    names = {"WorkerServer": WorkerServer, "ModelInfo": ModelInfo, "nn": torch.nn}
    for function in (embedding.serve, embedding.start_server, embedding.load_model):
        hints = typing.get_type_hints(function, localns=names)
        code = function.__code__
        parameters = code.co_varnames[:code.co_argcount + code.co_kwonlyargcount]
        assert hints.keys() == {*parameters, "return"}, function.__name__

CALLER = """
from pathlib import Path
from robustseg_worker.embedding import start_server
start_server(Path("ws"), data_roots=["/data", Path("/more")], max_message_mb=64)
start_server("ws", data_roots=5)
start_server("ws", max_message_mb="64")
"""


def _type_checker() -> list[str] | None:
    if importlib.util.find_spec("mypy") is not None:
        return [sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports=silent"]
    pyright = shutil.which("pyright")
    return [pyright] if pyright else None


def test_a_type_checker_catches_a_wrong_type(tmp_path):
    command = _type_checker()
    if command is None:
        pytest.skip("no type checker (mypy or pyright) is installed")
    caller = tmp_path / "caller.py"
    caller.write_text(CALLER)
    package_root = Path(embedding.__file__).parents[1]
    out = subprocess.run([*command, str(caller)], capture_output=True, text=True, cwd=package_root,
                         env={**os.environ, "MYPYPATH": str(package_root)}).stdout
    flagged = {int(line) for line in re.findall(r"caller\.py:(\d+)", out)}  # mypy and pyright both say FILE:LINE
    assert flagged == {5, 6}, out
