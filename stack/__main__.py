"""`python -m stack run` starts everything and stays in the foreground; `python -m stack stop` stops it;
`serve` and `gateway` run one service in the foreground (`make serve`, `make gateway`)."""

from __future__ import annotations

import argparse
import sys

from stack.config import StackSettings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m stack", description=__doc__)
    parser.add_argument("command", choices=["run", "stop", "serve", "gateway"])
    command = parser.parse_args().command
    settings = StackSettings()
    if command in ("run", "stop"):
        from stack import run

        return run.run(settings) if command == "run" else run.stop(settings)
    from stack import foreground

    build = foreground.serve_command if command == "serve" else foreground.gateway_foreground_command
    foreground.exec_command(build(settings))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
