"""The profile's summary of py-spy's collapsed stacks: shares by package and function, lines merged."""

from __future__ import annotations

from pathlib import Path

from loadtest.profile import summary
from stack.procs import REPO_ROOT

SITE = "/work/.venv/lib/python3.11/site-packages"


def test_shares_by_package_and_function(tmp_path: Path) -> None:
    handle = "handle (gateway/api/routes/predict.py:30)"
    commit = f"commit ({SITE}/sqlalchemy/orm/session.py:2000)"
    parse = f"parse ({SITE}/multipart/multipart.py:10)"
    lines = [
        f'process 1:"python";{handle};{commit} 60',
        f'process 1:"python";{handle};{commit.replace("2000", "2010")} 20',  # same function, other line
        f'process 1:"python";{handle};{parse} 20',
    ]
    collapsed = tmp_path / "profile-x-c-gateway.txt"
    collapsed.write_text("\n".join(lines) + "\n")

    text = summary(collapsed)

    assert "100 samples" in text
    self_by_package = text.split("self, by package:")[1].split("self, by function:")[0]
    assert " 80.0%  sqlalchemy" in self_by_package
    assert " 20.0%  multipart" in self_by_package
    by_function = text.split("self, by function:")[1].split("total")[0]
    assert " 80.0%  commit (sqlalchemy/orm/session.py)" in by_function
    total = text.split("total (on the stack):")[1]
    assert "100.0%  handle (gateway/api/routes/predict.py)" in total
    assert str(REPO_ROOT) not in text
