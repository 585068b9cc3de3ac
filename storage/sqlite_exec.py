"""Prepared Core statements run straight on SQLite's driver: the ingest hot path.

SQLAlchemy's execution layer costs about 30 µs a statement (execution context, cache lookup, event
dispatch, result metadata) where SQLite answers an indexed lookup in about 10 µs, and ingest runs
some seven statements a message. A statement registered here (`register`: the ones ingest builds
once, as module constants) is compiled once per process for SQLite and then run on the DBAPI
cursor, with the bind and result processors SQLAlchemy itself would apply, so what is stored and
read back is exactly what `Connection.execute` would store and read. Anything else — statements
built per call, expanding parameters, columns with Python-side defaults, other databases — goes
through `Connection.execute` unchanged. Driver errors come out as SQLAlchemy's exception classes
(statement parameters hidden, as the engines are configured). Engine events and `echo` do not see
the direct statements (`bench/ingest_throughput.py` counts them with SQLite's trace callback).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import Executable, Insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, StatementError

_REGISTERED: dict[int, Executable] = {}  # id → statement (held, so the id stays its own)
_PLANS: dict[tuple[int, frozenset[str] | None], _Plan | None] = {}  # an INSERT's, by the columns it is given
_FIXED: dict[int, _Plan | None] = {}  # every other registered statement's
_MISSING = object()


def register(*statements: Executable) -> None:
    """Statements that live as long as the process and may take the direct path on SQLite."""
    for stmt in statements:
        _REGISTERED[id(stmt)] = stmt


class _Plan:
    """One statement compiled for SQLite: its SQL, its parameters in order with their bind
    processors, and for a SELECT (or RETURNING) its row type and result processors."""

    def __init__(self, stmt: Executable, dialect: Dialect, column_keys: frozenset[str] | None) -> None:
        # SQLCompiler's own attributes (bind and result processors) are what this reuses: typed loosely.
        keys = sorted(column_keys) if column_keys else None
        compiled: Any = cast(Any, stmt).compile(dialect=dialect, column_keys=keys)
        # Python-side column defaults are computed by SQLAlchemy's execution context: not here.
        self.usable = not (compiled.insert_prefetch or compiled.update_prefetch)
        self.sql: str = compiled.string
        processors = compiled._bind_processors  # SQLAlchemy's own, applied as it would apply them
        self.binds: list[tuple[str, Callable[[Any], Any] | None]] = [
            (name, _faster(compiled.binds[name].type, dialect, processors.get(name)))
            for name in compiled.positiontup or []
        ]
        self.defaults: dict[str, Any] = compiled.construct_params(_check=False)  # LIMIT 2 and the like
        # The parameter list in order, and a result row, each built by one generated function.
        self.values: Callable[[dict[str, Any]], list[Any]] = _values_function(self.binds, self.defaults)
        columns = compiled._result_columns
        self.row: type | None = _row_type([c.keyname for c in columns]) if columns else None
        processors = [c.type._cached_result_processor(dialect, None) for c in columns]
        self.make: Callable[[Any], Any] | None = _row_function(self.row, processors) if self.row else None


# The functions below are generated (one expression per parameter or column, instead of a loop
# with a branch each): the names in them are the statement's own bind names, quoted with repr.


def _values_function(
    binds: list[tuple[str, Callable[[Any], Any] | None]], defaults: dict[str, Any]
) -> Callable[[dict[str, Any]], list[Any]]:
    """`params` → the statement's parameters in order, each through its bind processor; a name
    not given takes its default (the value bound in the statement, e.g. LIMIT 2, else None)."""
    env: dict[str, Any] = {}
    parts = []
    for i, (name, process) in enumerate(binds):
        if name in defaults:
            env[f"d{i}"] = defaults[name]
            expr = f"p.get({name!r}, d{i})"
        else:
            expr = f"p[{name!r}]"
        if process is not None:
            env[f"f{i}"] = process
            expr = f"f{i}({expr})"
        parts.append(expr)
    return cast(Callable[[dict[str, Any]], list[Any]], eval(f"lambda p: [{', '.join(parts)}]", env))  # noqa: S307


def _row_function(row: type, processors: list[Callable[[Any], Any] | None]) -> Callable[[Any], Any]:
    """A fetched tuple → a row of `row`'s type, each column through its result processor."""
    env: dict[str, Any] = {"new": tuple.__new__, "R": row}
    if not any(processors):
        return cast(Callable[[Any], Any], eval("lambda r: new(R, r)", env))  # noqa: S307
    parts = []
    for i, process in enumerate(processors):
        if process is None:
            parts.append(f"r[{i}]")
        else:
            env[f"f{i}"] = process
            parts.append(f"f{i}(r[{i}])")
    return cast(Callable[[Any], Any], eval(f"lambda r: new(R, ({', '.join(parts)},))", env))  # noqa: S307


_SQLITE_DATETIME_FORMAT = sqlite.DATETIME._storage_format  # "YYYY-MM-DD HH:MM:SS.ffffff"


def _faster(type_: Any, dialect: Dialect, process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """A bind processor that gives what `process` gives, faster, where there is one: SQLite's
    DATETIME formats a naive datetime with `%` and a dict of its fields; `isoformat` writes the
    same text (zero-padded year, always the microseconds). Anything else goes to `process`."""
    impl = type_.dialect_impl(dialect)
    if process is None or type(impl) is not sqlite.DATETIME or impl._storage_format != _SQLITE_DATETIME_FORMAT:
        return process

    def fast(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return process(value)

    return fast


def _row_type(fields: list[str]) -> type:
    base = namedtuple("Row", fields)  # type: ignore[misc]

    class Row(base):
        """A result row: attributes, `_asdict()` and `_mapping`, like SQLAlchemy's."""

        __slots__ = ()

        @property
        def _mapping(self) -> dict[str, Any]:
            return self._asdict()

    return Row


def _plan(stmt: Executable, dialect: Dialect, params: Any) -> _Plan | None:
    found = _FIXED.get(id(stmt), _MISSING)
    if found is not _MISSING:
        return found  # type: ignore[return-value]
    if id(stmt) not in _REGISTERED:
        return None
    if not isinstance(stmt, Insert):
        plan = _Plan(stmt, dialect, None)
        _FIXED[id(stmt)] = plan if plan.usable else None
        return _FIXED[id(stmt)]
    keys = None
    if isinstance(stmt, Insert):  # an INSERT without VALUES names the columns it is given
        first = params[0] if isinstance(params, list) else params
        keys = frozenset(first)
    slot = (id(stmt), keys)
    if slot not in _PLANS:
        plan = _Plan(stmt, dialect, keys)
        _PLANS[slot] = plan if plan.usable else None
    return _PLANS[slot]


class Result:
    """What the applier reads of a result: rows, one row, a scalar, the row count, the new id."""

    __slots__ = ("_rows", "lastrowid", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int, lastrowid: int | None) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    def all(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise ValueError(f"expected one row, got {len(self._rows)}")
        return self._rows[0]

    def one_or_none(self) -> Any:
        if len(self._rows) > 1:
            raise ValueError(f"expected at most one row, got {len(self._rows)}")
        return self._rows[0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    @property
    def inserted_primary_key(self) -> tuple[int | None]:
        return (self.lastrowid,)


class Executor:
    """`execute` like a Connection's: registered statements straight on the SQLite cursor, the rest
    through the Connection (which stays usable beside it: one DBAPI connection, one transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.dialect = conn.dialect
        self._direct = conn.dialect.name == "sqlite" and conn.dialect.driver == "pysqlite"
        self._cursor: sqlite3.Cursor | None = None
        self._context: SimpleNamespace | None = None

    def exec_driver_sql(self, sql: str) -> None:
        """A statement without parameters or result (SAVEPOINT and the like)."""
        if not self._direct:
            self.conn.exec_driver_sql(sql)
            return
        try:
            self._cursor_of().execute(sql)
        except sqlite3.Error as exc:
            raise self._error(sql, exc) from exc

    def _cursor_of(self) -> sqlite3.Cursor:
        if self._cursor is None:
            dbapi = self.conn.connection.dbapi_connection
            assert dbapi is not None, "a connection that is not open"
            self._cursor = cast(sqlite3.Cursor, dbapi.cursor())
        return self._cursor

    def get_execution_options(self) -> Any:
        return self.conn.get_execution_options()

    def default_context(self) -> Any:
        """What a Python-side column default is given, as an execution context would give it:
        the connection's execution options (the same for the whole transaction)."""
        if self._context is None:
            self._context = SimpleNamespace(execution_options=self.conn.get_execution_options())
        return self._context

    def execute(self, stmt: Executable, params: dict[str, Any] | Sequence[dict[str, Any]] | None = None) -> Any:
        plan = _FIXED.get(id(stmt), _MISSING) if self._direct else None
        if plan is _MISSING:
            plan = _plan(stmt, self.dialect, params)
        if plan is None:
            return self.conn.execute(stmt, params)
        assert isinstance(plan, _Plan)
        cur = self._cursor or self._cursor_of()
        try:
            if params is None or isinstance(params, dict):
                cur.execute(plan.sql, plan.values(params or {}))
            else:
                values = plan.values
                cur.executemany(plan.sql, [values(p) for p in params])
            make = plan.make  # (a statement without rows is done once executed: nothing to fetch)
            rows = [make(raw) for raw in cur.fetchall()] if make is not None else []
        except sqlite3.Error as exc:
            raise self._error(plan.sql, exc) from exc
        return Result(rows, cur.rowcount, cur.lastrowid)

    def _error(self, sql: str, exc: sqlite3.Error) -> StatementError:
        """SQLAlchemy's exception for a driver error (IntegrityError, OperationalError …), as
        `Connection.execute` would raise it: parameters hidden."""
        return DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True, dialect=self.dialect)
