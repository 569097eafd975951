"""`python -m stack.step --log FILE --label TEXT -- COMMAND…`: one slow Makefile step, quietly.

The command's output goes to FILE; the terminal gets one progress line, or an error naming FILE.
Standard library only: it runs before the project's packages are installed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stack.progress import run_logged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.step", description=__doc__)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return run_logged(command, args.log, args.label)


if __name__ == "__main__":
    sys.exit(main())
