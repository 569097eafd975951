"""Every shell and Python block of README.md, run as written against a live stack.

The stack: `python -m serving` with efficientnet-lite0 (the model `make run` serves offline, so the README's
model name is used unchanged) and the gateway, each a process on free ports, on a fresh database.

What the test changes in a block, and only that: the default addresses `127.0.0.1:8000` (gateway),
`127.0.0.1:8500` (gRPC) and `127.0.0.1:8501` (REST) become the free ports of this stack (`ADDRESSES`).
Blocks run in README order, in one working folder holding `photo.jpg` (a cat), and a shell block sees the
variables the earlier ones set (e.g. `TOKEN`), as when a person pastes them into one terminal.

Which blocks run: those fenced as bash/sh/shell/python. A block is skipped, visibly, only by `NOT_EXAMPLES`:
blocks whose every command is a `make`/`pip`/`docker`/`kubectl` command start or install things themselves
and are tested elsewhere (tests/stack, tests/deploy). Blocks without one of those languages are output
samples or diagrams, not commands.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontend.assets import make_examples
from stack.commands import gateway_command
from stack.procs import PYTHON, REPO_ROOT, Service, free_port, http_ok

pytestmark = pytest.mark.slow

README = REPO_ROOT / "README.md"
RUNNABLE = {"bash": "shell", "sh": "shell", "shell": "shell", "python": "python"}
NOT_EXAMPLES = {
    "make": "make targets start or install the whole product themselves (tested in tests/stack)",
    "pip": "installs packages (the suite runs in the installed venv)",
    "docker": "needs Docker (tested in tests/deploy)",
    "kubectl": "needs a cluster (tested in tests/deploy)",
}
MODEL = "efficientnet-lite0"
BLOCK_TIMEOUT = 180


@dataclass(frozen=True)
class Block:
    kind: str  # "shell" or "python"
    code: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.kind}-line{self.line}"


def readme_blocks(text: str) -> list[Block]:
    blocks = []
    for match in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, flags=re.M | re.S):
        kind = RUNNABLE.get(match.group(1).lower())
        if kind:
            blocks.append(Block(kind, match.group(2), text[: match.start()].count("\n") + 1))
    return blocks


def not_an_example(block: Block) -> str | None:
    """The NOT_EXAMPLES reason when every command of a shell block is one of those tools."""
    if block.kind != "shell":
        return None
    commands = [ln.split()[0] for ln in block.code.splitlines() if ln.strip() and not ln.startswith("#")]
    reasons = {NOT_EXAMPLES.get(c) for c in commands}
    return reasons.pop() if len(reasons) == 1 and None not in reasons else None


def params() -> list[Any]:
    out = []
    for block in readme_blocks(README.read_text(encoding="utf-8")):
        reason = not_an_example(block)
        marks = [pytest.mark.skip(reason=f"README line {block.line}: {reason}")] if reason else []
        out.append(pytest.param(block, id=block.id, marks=marks))
    return out


@dataclass
class ReadmeStack:
    addresses: dict[str, str]
    folder: Path  # the working folder the blocks share
    gateway_url: str

    def rewrite(self, code: str) -> str:
        for default, actual in self.addresses.items():
            code = code.replace(default, actual)
        return code


@pytest.fixture(scope="module")
def readme_stack(
    efficientnet_base: Path,
    start_shared_serving: Callable[..., Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ReadmeStack]:
    serving = start_shared_serving(efficientnet_base, MODEL)
    folder = tmp_path_factory.mktemp("readme")
    port = free_port()
    command = gateway_command(
        port,
        serving_target=serving.grpc_target,
        model_name=MODEL,
        database_url=f"sqlite+aiosqlite:///{folder / 'gateway.db'}",
        upload_dir=folder / "uploads",
    )
    gateway = Service(command.args, folder / "gateway.log", command.env, name="gateway")
    url = f"http://127.0.0.1:{port}"
    try:
        gateway.wait_ready(lambda: http_ok(f"{url}/ready"), timeout=120, what="gateway")
        work = folder / "work"
        work.mkdir()
        (work / "photo.jpg").write_bytes(make_examples(folder / "examples")[0].read_bytes())  # chelsea
        yield ReadmeStack(
            {
                "127.0.0.1:8000": f"127.0.0.1:{port}",
                "127.0.0.1:8500": serving.grpc_target,
                "127.0.0.1:8501": f"127.0.0.1:{serving.rest_port}",
            },
            work,
            url,
        )
    finally:
        gateway.stop()


SHELL_STATE = ".readme-shell-vars"


def run_block(stack: ReadmeStack, block: Block) -> subprocess.CompletedProcess[str]:
    code = stack.rewrite(block.code)
    if block.kind == "python":
        args = [PYTHON, "-c", code]
    else:
        names = sorted(set(re.findall(r"^([A-Za-z_]\w*)=", code, flags=re.M)))
        keep = f"\ndeclare -p {' '.join(names)} >> {SHELL_STATE}\n" if names else ""
        script = f"touch {SHELL_STATE}; source {SHELL_STATE}\n{code}{keep}"
        args = ["bash", "-eo", "pipefail", "-c", script]
    return subprocess.run(
        args, cwd=stack.folder, capture_output=True, text=True, timeout=BLOCK_TIMEOUT, check=False
    )


def check_output(stack: ReadmeStack, block: Block, out: str, err: str = "") -> None:
    """What each example must show beyond running without error: the answers it is there to show."""
    folder = stack.folder
    if "/model/predict " in block.code:
        assert '"success":true' in out.replace(" ", "")
        prediction = httpx.Response(200, content=(folder / "prediction.json").read_bytes()).json()
        assert prediction["model"]["name"] == MODEL
        feedback = httpx.Response(200, content=(folder / "feedback.json").read_bytes()).json()
        assert feedback["image_file_name"] == prediction["image_file_name"]  # the prediction just made
        assert f'"image_file_name":"{prediction["image_file_name"]}"' in out.replace(" ", "")
        assert "it is a tiger cat" in out
    if "/model/predictions?" in block.code:
        assert (folder / "my-photo.jpg").read_bytes() == (folder / "photo.jpg").read_bytes()
    if "stub.Predict(" in block.code:  # the gRPC example must print the top 5 with their real scores
        assert err.strip() == "", err  # and nothing else first: no TensorFlow start-up log lines
        lines = out.strip().splitlines()
        assert len(lines) == 5, out
        scores = [float(line.rsplit(": ", 1)[1]) for line in lines]
        assert scores == sorted(scores, reverse=True)
        assert scores[0] > 0.05  # a real score, not the `[]` of float_val
        assert 0.0 < sum(scores) <= 1.0 + 1e-3
    if ":predict" in block.code:
        assert '"predictions"' in out
        assert "AVAILABLE" in out


@pytest.mark.parametrize("block", params())
def test_readme_block(readme_stack: ReadmeStack, block: Block) -> None:
    if "/model/predictions" in block.code:
        paths = httpx.get(f"{readme_stack.gateway_url}/openapi.json", timeout=30).json()["paths"]
        if "/model/predictions" not in paths:
            pytest.skip("this gateway has no GET /model/predictions yet (issue 14 item 8, the gateway half)")
    result = run_block(readme_stack, block)
    assert result.returncode == 0, f"README line {block.line}:\n{result.stdout}\n{result.stderr[-3000:]}"
    assert '"detail"' not in result.stdout, result.stdout  # no error answer from the gateway
    check_output(readme_stack, block, result.stdout, result.stderr)


MAKE_RUN_URLS = "Open the web page"


def make_run_sample() -> list[str]:
    """The README's sample of what `make run` prints, up to the URLs (the block that holds them)."""
    text = README.read_text(encoding="utf-8")
    for match in re.finditer(r"^```(\w*)[^\n]*\n(.*?)^```", text, flags=re.M | re.S):  # fences in order
        if not match.group(1) and MAKE_RUN_URLS in match.group(2):
            block = match.group(2)
            return block[: block.index(MAKE_RUN_URLS)].strip().splitlines()
    raise AssertionError("README.md has no sample of make run's output")


def line_shape(line: str) -> str:
    """A printed line with what varies from run to run (durations, ports, banner padding) taken out."""
    line = re.sub(r"\b(\d+m)?\d+s\b", "<time>", line)
    line = re.sub(r"\d+", "<n>", line)
    line = re.sub(r"!{2,}", "!", line)
    return " ".join(line.split())


def test_the_readme_counts_the_lines_of_its_make_run_sample() -> None:
    sample = make_run_sample()
    (said,) = re.findall(r"(\d+) lines in all before the URLs", README.read_text(encoding="utf-8"))
    assert int(said) == len(sample)
    assert sum(" ready in " in line for line in sample) == 3  # one per service
    assert any("Could not export resnet50" in line and "no network" in line for line in sample)


def test_every_block_is_run_or_skipped_by_rule() -> None:
    blocks = readme_blocks(README.read_text(encoding="utf-8"))
    skipped = {b.line: not_an_example(b) for b in blocks if not_an_example(b)}
    assert any(b.kind == "python" for b in blocks)
    assert all(reason in NOT_EXAMPLES.values() for reason in skipped.values())
    ran = [b for b in blocks if b.line not in skipped]
    assert len(ran) >= 3, [b.id for b in blocks]  # the gateway API, model server REST and gRPC examples
