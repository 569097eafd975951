"""`python -m stack run` starts everything and stays in the foreground; `python -m stack stop` stops it."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time

from stack import services
from stack.config import StackSettings
from stack.model import ensure_model


def say(line: str) -> None:
    print(line, flush=True)


def stop_running(running: list[services.Running]) -> None:
    """Frontend first, serving last, so nothing is left calling a stopped dependency."""
    for item in reversed(running):
        if item.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.proc.pid, signal.SIGTERM)
    for item in reversed(running):
        try:
            item.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(item.proc.pid, signal.SIGKILL)
            item.proc.wait()
        say(f"  stopped {item.spec.name}")


def run(settings: StackSettings) -> int:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    supervisor = services.read_state(settings).get("supervisor")
    if supervisor and _alive(supervisor):
        say("the stack is already running (`make stop` stops it)")
        return 1
    model = ensure_model(settings, say)
    specs = [
        *services.serving_specs(settings, model),
        services.gateway_spec(settings, model),
        services.frontend_spec(settings),
    ]
    try:
        services.check_ports(specs, settings.host)
    except services.PortInUseError as error:
        say(f"error: {error}")
        return 1

    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    running: list[services.Running] = []
    try:
        for spec in specs:
            say(f"  starting {spec.name:<10} log: {settings.log_dir / (spec.name + '.log')}")
            running.append(services.start(spec, settings))
            services.write_state(settings, running)
        for item in running:
            services.wait_ready(item, settings.ready_timeout)
            say(f"  {item.spec.name:<10} ready   {item.spec.url}")
        say("")
        say(f"Open the web page:  http://{settings.host}:{settings.frontend_port}")
        say(f"Gateway API docs:   http://{settings.host}:{settings.gateway_port}/docs")
        rest = f"http://{settings.host}:{settings.serving_rest_port}/v1/models/{model}"
        say(f"Model server:       {model}, gRPC {settings.host}:{settings.serving_port}, REST {rest}")
        say("Sign in as admin@example.com / admin (ADMIN_EMAIL / ADMIN_PASSWORD change it).")
        say("Ctrl-C (or `make stop` in another terminal) stops everything.")
        while True:
            for item in running:
                if item.proc.poll() is not None:
                    say(f"error: {item.spec.name} exited with code {item.proc.returncode}; see {item.log}")
                    return 1
            time.sleep(1)
    except KeyboardInterrupt:
        say("\nstopping …")
        return 0
    except (RuntimeError, TimeoutError) as error:
        say(f"error: {error}")
        return 1
    finally:
        stop_running(running)
        settings.state_file.unlink(missing_ok=True)
        if not stopping:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(settings: StackSettings) -> int:
    state = services.read_state(settings)
    supervisor = state.get("supervisor")
    if supervisor and _alive(supervisor):
        os.kill(supervisor, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(supervisor) and time.monotonic() < deadline:
            time.sleep(0.2)
    for pid in state.get("services", {}).values():  # left behind by a supervisor that died
        services.stop_group(pid)
    settings.state_file.unlink(missing_ok=True)
    say("stopped" if state else "nothing to stop")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("command", choices=["run", "stop"])
    command = parser.parse_args().command
    settings = StackSettings()
    return run(settings) if command == "run" else stop(settings)


if __name__ == "__main__":
    sys.exit(main())
