"""An image's lock, installed in a fresh venv as the Dockerfile does, runs its service's code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from stack.procs import REPO_ROOT
from tests.deploy.conftest import DOCKERFILE
from tests.deploy.dockerfile import copy_sources, parse_dockerfile, stage_chain


@dataclass(frozen=True)
class Image:
    group: str
    sources: tuple[str, ...]  # what the Dockerfile copies into /app
    build: tuple[str, ...]  # build steps run in /app, as the Dockerfile's RUN lines
    probe: str  # run in /app with the image's interpreter
    build_group: str | None = None  # the lock of the stage that runs the build steps (its venv stays there)


IMAGES = {
    "gateway": Image(
        group="gateway",
        sources=("boundedhttp/", "contracts/", "gateway/", "tfs_protos/"),
        build=("-m", "tfs_protos.build"),
        build_group="protos",
        probe=(
            "import sys, importlib.util, gateway.main; "
            "assert 'tensorflow' not in sys.modules, 'TensorFlow imported'; "
            "assert importlib.util.find_spec('grpc_tools') is None, 'grpcio-tools in the venv'"
        ),
    ),
    "frontend": Image(
        group="frontend",
        sources=("boundedhttp/", "contracts/", "frontend/"),
        build=(),
        probe="import sys, frontend.__main__, frontend.ui; assert 'tensorflow' not in sys.modules",
    ),
}


def dockerfile_sources(image: str) -> set[str]:
    """Repository paths that end up in the image: its own COPYs and those of the stages it copies from."""
    _, stages = parse_dockerfile(DOCKERFILE)
    sources: set[str] = set()
    pending = [image]
    while pending:
        for stage in stage_chain(stages, pending.pop()):
            for instruction in stage.all("COPY"):
                from_stage, paths, _ = copy_sources(instruction)
                if from_stage is None:
                    sources |= {p for p in paths if not p.startswith(("requirements/", "deploy/"))}
                else:
                    pending.append(from_stage)
    return sources


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_the_test_copies_what_the_dockerfile_copies(image: str) -> None:
    assert dockerfile_sources(image) == set(IMAGES[image].sources)


def run(args: list[str], cwd: Path, timeout: float = 900) -> None:
    """Outside this venv: nothing of it on the path, so only what the fresh venv holds is importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    result = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


@pytest.mark.slow
@pytest.mark.parametrize("image", ["gateway"])  # the frontend's is larger (gradio) and slower to install
def test_image_dependency_group_runs_the_service_code(image: str, tmp_path: Path) -> None:
    spec = IMAGES[image]
    app = tmp_path / "app"
    for source in spec.sources:
        target = app / source
        if (REPO_ROOT / source).is_dir():
            shutil.copytree(
                REPO_ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__", "generated")
            )
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO_ROOT / source, target)
    python = fresh_venv(tmp_path / "venv", spec.group)
    if spec.build:
        # the Dockerfile's protos stage: its own venv generates the code, the image takes only the code
        builder = fresh_venv(tmp_path / "build-venv", spec.build_group) if spec.build_group else python
        run([builder, *spec.build], app)
    run([python, "-c", spec.probe], app, timeout=300)


def fresh_venv(venv: Path, lock: str) -> str:
    """A venv holding requirements/<lock>.txt, installed as the Dockerfile installs it."""
    run([sys.executable, "-m", "venv", str(venv)], venv.parent)
    python = str(venv / "bin" / "python")
    requirements = str(REPO_ROOT / "requirements" / f"{lock}.txt")
    run(
        [python, "-m", "pip", "install", "--quiet", "--require-hashes", "--no-deps", "-r", requirements],
        venv.parent,
    )
    return python
