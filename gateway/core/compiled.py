"""A Core statement compiled once for a dialect, run on the DBAPI cursor itself.

SQLAlchemy's `Connection.execute` costs a tenth of a millisecond to half a millisecond of CPU per statement
(cache key, execution context, result rows), while SQLite answers an indexed SELECT in microseconds. For
the few statements of the predict path, the statement is compiled once and its parameters and rows go
through its columns' own bind and result processing, so a datetime, a boolean or a JSON column reads and
writes exactly as through SQLAlchemy. Only positional paramstyles (SQLite's `?`, asyncpg's `$n`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, ColumnElement
from sqlalchemy.sql.compiler import SQLCompiler

Processor = Callable[[Any], Any] | None


class CompiledStatement:
    """`sql` with the parameters `parameters` orders and converts; `row` turns a driver row into the
    statement's SELECT list by name."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        assert isinstance(compiled, SQLCompiler)
        assert compiled.positiontup is not None, "a positional paramstyle only"
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup)
        self._fixed = {  # the statement's own values (a LIMIT's, say); the others are the caller's
            name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
        }
        self._binds: tuple[Processor, ...] = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self._names
        )
        columns: Sequence[ColumnElement[Any]] = getattr(statement, "selected_columns", ())
        self._keys = tuple(str(column.key) for column in columns)
        self._results: tuple[Processor, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        ordered = (self._value(values, name) for name in self._names)
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self._binds, ordered, strict=True)
        )

    def _value(self, values: Mapping[str, Any], name: str) -> Any:
        return values[name] if name in values or name not in self._fixed else self._fixed[name]

    def row(self, raw: Sequence[Any]) -> dict[str, Any]:
        return {
            key: value if process is None else process(value)
            for key, process, value in zip(self._keys, self._results, raw, strict=True)
        }
