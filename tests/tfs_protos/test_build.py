"""`python -m tfs_protos.build` generates the modules once, at install; importing them never builds, never
writes into a package and never needs grpcio-tools; a checkout without them (or with stale ones) says
what to run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stack.procs import PYTHON, REPO_ROOT
from tfs_protos.build import BuildError, prefix_imports, rewrite_message_module

PROBE = Path(__file__).with_name("import_probe.py")
GATEWAY_MODULES = ("tfs_protos.apis", "gateway.main")
SERVING_MODULES = ("tfs_protos.config", "serving.config")


def python(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The interpreter with `root` as the only source folder (no worktree or checkout before it)."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [PYTHON, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def probe(root: Path, watch: list[Path], modules: tuple[str, ...]) -> dict:
    done = python(root, str(PROBE), *(f"--watch={folder}" for folder in watch), *modules)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def copy_package(root: Path) -> Path:
    """tfs_protos as a fresh clone has it: sources and .proto files, nothing generated."""
    shutil.copytree(
        REPO_ROOT / "tfs_protos",
        root / "tfs_protos",
        ignore=shutil.ignore_patterns("generated", "generated.*", "__pycache__"),
    )
    return root / "tfs_protos"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("built")
    copy_package(root)
    return root, python(root, "-W", "error::RuntimeWarning", "-m", "tfs_protos.build")


def test_the_gateway_imports_without_grpcio_tools_tensorflow_or_writing() -> None:
    report = probe(REPO_ROOT, [REPO_ROOT / "tfs_protos", REPO_ROOT / "gateway"], GATEWAY_MODULES)
    assert report == {"error": None, "changed": [], "tensorflow_modules": []}


@pytest.mark.slow
def test_the_serving_config_imports_without_grpcio_tools_or_writing() -> None:
    report = probe(REPO_ROOT, [REPO_ROOT / "tfs_protos", REPO_ROOT / "serving"], SERVING_MODULES)
    assert (report["error"], report["changed"]) == (None, [])


@pytest.mark.parametrize("module", ["tfs_protos.apis", "tfs_protos.config"])
def test_a_fresh_checkout_is_told_to_run_the_build_writing_nothing(tmp_path: Path, module: str) -> None:
    package = copy_package(tmp_path)
    report = probe(tmp_path, [package], (module,))
    assert report["error"].startswith("NotGeneratedError:")
    assert "run `make install`" in report["error"]
    assert report["changed"] == []
    assert not (package / "generated").exists()


def test_the_build_runs_once_quietly_and_its_modules_import_without_grpcio_tools(built) -> None:
    root, done = built
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Warning" not in done.stderr, done.stderr  # e.g. runpy's "found in sys.modules"
    assert (root / "tfs_protos" / "generated" / "__init__.py").is_file()
    report = probe(root, [root / "tfs_protos"], ("tfs_protos.apis", "tfs_protos.config"))
    assert report == {"error": None, "changed": [], "tensorflow_modules": []}


def test_modules_generated_from_other_protos_are_refused(built, tmp_path: Path) -> None:
    root, done = built
    assert done.returncode == 0, done.stderr[-3000:]
    shutil.copytree(root / "tfs_protos", tmp_path / "tfs_protos")
    proto = tmp_path / "tfs_protos/protos/tensorflow_serving/apis/model.proto"
    proto.write_text(proto.read_text() + "// edited after the build\n")
    report = probe(tmp_path, [tmp_path / "tfs_protos"], ("tfs_protos.apis",))
    assert "generated from other .proto files" in report["error"]
    assert "run `make install`" in report["error"]


def test_the_build_without_grpcio_tools_says_what_it_needs(tmp_path: Path) -> None:
    copy_package(tmp_path)
    code = "import sys; sys.modules['grpc_tools'] = None; from tfs_protos.build import main; main()"
    done = python(tmp_path, "-c", code)
    assert done.returncode == 1
    assert "needs grpcio-tools" in done.stderr
    assert not (tmp_path / "tfs_protos" / "generated").exists()


def test_imports_of_the_vendored_folders_get_the_package_prefix() -> None:
    source = (
        "from tensorflow.core.framework import tensor_pb2 as t\n"
        "from tensorflow_serving.apis import model_pb2 as m\n"
        "from xla.tsl.protobuf import error_codes_pb2 as e\n"
        "from google.protobuf import any_pb2 as a\n"
        "import tensorflow_datasets\n"
    )
    assert prefix_imports(source) == (
        "from tfs_protos.generated.tensorflow.core.framework import tensor_pb2 as t\n"
        "from tfs_protos.generated.tensorflow_serving.apis import model_pb2 as m\n"
        "from tfs_protos.generated.xla.tsl.protobuf import error_codes_pb2 as e\n"
        "from google.protobuf import any_pb2 as a\n"
        "import tensorflow_datasets\n"
    )


def test_protoc_output_of_another_form_fails_the_build() -> None:
    """Rather than writing modules that register in the default pool, where they would clash."""
    with pytest.raises(BuildError, match="descriptor_pool"):
        rewrite_message_module("DESCRIPTOR = something_else()\n", "x_pb2.py")
