"""`python -m serving.auto_decide --version-dir models/<name>/<version>`: make and cache the `--runtime auto`
decision of one version (serving/engines/auto.py), without serving it.

The model server runs this as a child process the first time it loads a version on a CPU; an export job
can run it once so that every replica on that kind of CPU reads the cached decision. Prints the decision
as one JSON line on stdout (the log goes to stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from model_repository import resolve_version_dir
from serving.engines import auto
from serving.precisions import AUTO_CANDIDATES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.auto_decide", description=__doc__.split("\n")[0])
    parser.add_argument("--version-dir", type=Path, required=True, help="a version folder or a model folder")
    parser.add_argument("--candidates", default=AUTO_CANDIDATES)
    parser.add_argument(
        "--timing-batch", type=int, default=1, help="images per timed request (the server's max_batch_size)"
    )
    parser.add_argument("--force", action="store_true", help="decide again even if a decision is cached")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname).1s %(name)s] %(message)s"
    )
    try:
        version_dir = resolve_version_dir(args.version_dir)
        candidates = auto.parse_candidates(args.candidates)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    key = auto.cache_key(candidates)
    cached = None if args.force else auto.read_decision(version_dir, key)
    if cached is not None:
        print(json.dumps(cached), flush=True)
        return 0
    decision = auto.decide(version_dir, candidates, args.timing_batch)
    path = auto.write_decision(version_dir, key, decision)
    print(json.dumps({**decision, "key": key, "file": str(path) if path else None}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
