"""What a Citus cluster distributed by user_id refuses, found in SQL text without a cluster.

The statements are parsed with PostgreSQL's own parser (pglast wraps libpg_query); function
volatility comes from the catalog of a migrated database (pg_proc.provolatile), so the
service's own IMMUTABLE helpers count as such and nothing is listed by hand. The rules follow
Citus's router planner (multi_router_planner.c, ModifyQuerySupported):

- returning: a write's RETURNING holds no non-IMMUTABLE function (Citus: "non-IMMUTABLE
  functions are not allowed in the RETURNING clause");
- case: no non-IMMUTABLE function inside CASE or COALESCE of an INSERT or UPDATE (Citus
  evaluates now() once on the coordinator and cannot do that lazily);
- on-conflict: nothing non-IMMUTABLE in ON CONFLICT DO UPDATE SET or its WHERE (not even
  now(): use excluded.<column>, whose default the INSERT evaluated);
- coordinator: in an UPDATE's SET or an UPDATE's / DELETE's WHERE, no VOLATILE function
  (clock_timestamp(), random()...) and no STABLE function or timestamptz-and-interval
  arithmetic over a column: Citus must evaluate those on the coordinator before it routes
  the write, and a column's value exists only on the worker;
- single-user: on the request path every reference to a distributed table is pinned to one
  user by `user_id = %(user_id)s` (or by equality with a pinned table's user_id), and an
  INSERT writes %(user_id)s as user_id, so each statement runs on one shard;
- jobs: statements under sql/jobs/ may span users, but a locking claim (FOR UPDATE / SKIP
  LOCKED) on a distributed table must be pinned to one user: Citus locks rows only in
  single-shard statements (or claim from a coordinator-local table);
- foreign keys (migrations/): a foreign key between distributed tables includes user_id in
  the same position on both sides; none links a distributed table with a coordinator-local one.

Operators are not resolved by type (the parser does not know column types): only the
timestamptz-and-interval arithmetic the service uses is recognised; an overloaded function
name counts as its most volatile overload (an IMMUTABLE helper of our own avoids the doubt).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pglast import ast, parse_sql
from pglast.enums import BoolExprType, ConstrType, SQLValueFunctionOp

_VOLATILITY_ORDER = {"i": 0, "s": 1, "v": 2}
_WRITES = (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt)
_STATEMENTS = (ast.SelectStmt, *_WRITES)


@dataclass(frozen=True)
class Violation:
    """One rule broken by one statement."""

    source: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.source}: [{self.rule}] {self.detail}"


@dataclass
class Catalog:
    """What the checker needs from a migrated database: volatility and table placement."""

    # function name -> [(argument type names, provolatile)] over its overloads
    functions: dict[str, list[tuple[tuple[str, ...], str]]]
    distributed: set[str]  # tables distributed by user_id
    reference: set[str]  # reference tables (replicated to every node)
    primary_keys: dict[str, list[str]]  # table -> primary key columns, in order
    column_types: dict[str, set[str]]  # column name -> its types over the schema's tables

    def volatility_of(self, name: str, arg_types: Iterable[str | None] | None = None) -> str:
        """Return 'i', 's' or 'v' for a call: the worst overload its known argument types fit.

        An argument type of None (a literal, an expression) fits every overload; unknown
        function names count as VOLATILE.
        """
        overloads = self.functions.get(name)
        if not overloads:
            return "v"
        candidates = overloads
        if arg_types is not None:
            types = list(arg_types)
            fitting = [
                (args, flag)
                for args, flag in overloads
                if len(args) == len(types)
                and all(
                    t is None or t == a or a in _ANY_TYPES for t, a in zip(types, args, strict=True)
                )
            ]
            candidates = fitting or overloads
        return max((flag for _, flag in candidates), key=_VOLATILITY_ORDER.__getitem__)

    def column_type(self, name: str) -> str | None:
        """Return the type of a column name when every table that has it agrees."""
        types = self.column_types.get(name, set())
        return next(iter(types)) if len(types) == 1 else None

    @classmethod
    def load(cls, conn, local: Iterable[str] = (), reference: Iterable[str] = ()) -> Catalog:
        """Read the catalog of a migrated database (a psycopg connection).

        Every table of schema public with a user_id column is distributed, except those named
        in `local` (kept on the coordinator) or `reference`.
        """
        functions: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        rows = conn.execute(
            "SELECT p.proname, p.provolatile,"
            "       array(SELECT t.typname FROM unnest(p.proargtypes) WITH ORDINALITY AS a(oid, n)"
            "             JOIN pg_type t ON t.oid = a.oid ORDER BY a.n)"
            " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
            " WHERE n.nspname IN ('pg_catalog', 'public')"
        ).fetchall()
        for name, flag, args in rows:
            functions.setdefault(name, []).append((tuple(args), flag))
        columns = conn.execute(
            "SELECT c.relname, a.attname, t.typname FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped"
            " JOIN pg_type t ON t.oid = a.atttypid"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
        ).fetchall()
        column_types: dict[str, set[str]] = {}
        with_user = set()
        for table, column, type_name in columns:
            column_types.setdefault(column, set()).add(type_name)
            if column == "user_id":
                with_user.add(table)
        keys: dict[str, list[str]] = {}
        for table, column in conn.execute(
            "SELECT c.relname, a.attname FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)"
            " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum"
            " WHERE n.nspname = 'public' AND i.indisprimary ORDER BY c.relname, k.pos"
        ):
            keys.setdefault(table, []).append(column)
        reference = set(reference)
        return cls(functions, with_user - set(local) - reference, reference, keys, column_types)


# Polymorphic and catch-all argument types: any argument fits them.
_ANY_TYPES = {
    "any",
    "anyelement",
    "anyarray",
    "anynonarray",
    "anyenum",
    "anycompatible",
    "anycompatiblearray",
    "anycompatiblenonarray",
    "anyrange",
    "anymultirange",
}
# The parser's names for types written in SQL-standard form are already pg_catalog names
# (timestamptz, int4, bool...); these are the common aliases written by hand.
_TYPE_ALIASES = {
    "integer": "int4",
    "int": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "boolean": "bool",
    "timestamp with time zone": "timestamptz",
}


def to_positional(text: str) -> tuple[str, dict[int, str]]:
    """Replace psycopg's %(name)s parameters by $n (the parser's form); return the numbering."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        return f"${numbers.setdefault(match.group(1), len(numbers) + 1)}"

    positional = re.sub(r"%\((\w+)\)s", number, text)
    return positional, {n: name for name, n in numbers.items()}


def walk(node: object) -> Iterator[ast.Node]:
    """Yield `node` and every AST node below it; subqueries are statements of their own."""
    if isinstance(node, _STATEMENTS):
        return
    if isinstance(node, ast.Node):
        yield node
        for field in node:
            yield from walk(getattr(node, field))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from walk(item)


def _function_name(call: ast.FuncCall) -> str:
    return call.funcname[-1].sval


def _type_of(node: object, catalog: Catalog) -> str | None:
    """Return the type name of an argument when the text alone tells it, else None."""
    if isinstance(node, ast.TypeCast):
        name = node.typeName.names[-1].sval
        name = _TYPE_ALIASES.get(name, name)
        return f"_{name}" if node.typeName.arrayBounds else name  # pg_type names arrays _x
    if isinstance(node, ast.ColumnRef) and isinstance(node.fields[-1], ast.String):
        return catalog.column_type(node.fields[-1].sval)
    return None


def _call_volatility(call: ast.FuncCall, catalog: Catalog) -> str:
    types = [_type_of(arg, catalog) for arg in call.args or ()]
    return catalog.volatility_of(_function_name(call), types)


def _mutable_calls(node: object, catalog: Catalog) -> list[str]:
    """Names of the non-IMMUTABLE functions called anywhere in `node`."""
    found = []
    for child in walk(node):
        if isinstance(child, ast.FuncCall):
            if _call_volatility(child, catalog) != "i":
                found.append(f"{_function_name(child)}()")
        elif isinstance(child, ast.SQLValueFunction):
            found.append(SQLValueFunctionOp(child.op).name.removeprefix("SVFOP_").lower())
    return found


def _has_column(node: object) -> bool:
    return any(isinstance(child, ast.ColumnRef) for child in walk(node))


def _is_interval(node: object) -> bool:
    if isinstance(node, ast.TypeCast):
        return node.typeName.names[-1].sval == "interval"
    return False


def _interval_arithmetic(node: object) -> bool:
    for child in walk(node):
        if isinstance(child, ast.A_Expr) and child.name and child.name[-1].sval in "+-":
            if any(_is_interval(side) for side in (child.lexpr, child.rexpr)):
                return True
    return False


def _coordinator_problems(node: object, catalog: Catalog) -> list[str]:
    """What in a write's SET / WHERE Citus cannot evaluate on the coordinator before routing."""
    problems = []
    for child in walk(node):
        if isinstance(child, ast.FuncCall):
            name = _function_name(child)
            flag = _call_volatility(child, catalog)
            if flag == "v":
                problems.append(f"VOLATILE {name}()")
            elif flag == "s" and _has_column(child.args):
                problems.append(f"STABLE {name}() over a column")
        elif isinstance(child, ast.A_Expr) and child.name and child.name[-1].sval in "+-":
            sides = (child.lexpr, child.rexpr)
            if any(_is_interval(side) for side in sides) and any(
                _has_column(side) for side in sides if not _is_interval(side)
            ):
                problems.append("timestamptz +/- interval over a column (STABLE)")
    return problems


def _case_problems(node: object, catalog: Catalog) -> list[str]:
    problems = []
    for child in walk(node):
        if isinstance(child, (ast.CaseExpr, ast.CoalesceExpr)):
            kind = "CASE" if isinstance(child, ast.CaseExpr) else "COALESCE"
            problems += [f"{name} inside {kind}" for name in _mutable_calls(child, catalog)]
    return problems


def _conjuncts(node: object) -> list[object]:
    if isinstance(node, ast.BoolExpr) and node.boolop == BoolExprType.AND_EXPR:
        return [part for arg in node.args for part in _conjuncts(arg)]
    return [] if node is None else [node]


def _user_id_column(node: object) -> str | None:
    """Return the qualifier of a `[alias.]user_id` column reference ('' when bare)."""
    if isinstance(node, ast.ColumnRef):
        names = [f.sval for f in node.fields if isinstance(f, ast.String)]
        if names and names[-1] == "user_id":
            return names[-2] if len(names) >= 2 else ""
    return None


def _is_user_param(node: object, params: dict[int, str]) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.ParamRef) and params.get(node.number) == "user_id"


class _Checker:
    def __init__(self, source: str, catalog: Catalog, params: dict[int, str], jobs: bool):
        self.source = source
        self.catalog = catalog
        self.params = params
        self.jobs = jobs
        self.violations: list[Violation] = []

    def flag(self, rule: str, detail: str) -> None:
        self.violations.append(Violation(self.source, rule, detail))

    # -- statement structure -------------------------------------------------------------

    def statement(self, stmt: ast.Node, pinned_outer: frozenset[str] = frozenset()) -> None:
        """Check one statement and, recursively, its CTEs and subqueries."""
        with_clause = getattr(stmt, "withClause", None)
        if with_clause:
            for cte in with_clause.ctes:
                self.statement(cte.ctequery, pinned_outer)
        if isinstance(stmt, ast.SelectStmt) and stmt.op and stmt.larg is not None:
            self.statement(stmt.larg, pinned_outer)
            self.statement(stmt.rarg, pinned_outer)
            return
        if isinstance(stmt, _WRITES):
            self.write_rules(stmt)
        pinned = self.placement(stmt, pinned_outer)
        # Subqueries anywhere below (FROM, WHERE, SET, VALUES...) are statements of their own.
        for field in stmt:
            if field == "withClause":
                continue
            for child in self._direct_substatements(getattr(stmt, field)):
                self.statement(child, pinned)

    def _direct_substatements(self, node: object) -> Iterator[ast.Node]:
        if isinstance(node, _STATEMENTS):
            yield node
            return
        if isinstance(node, ast.Node):
            for field in node:
                yield from self._direct_substatements(getattr(node, field))
        elif isinstance(node, (list, tuple)):
            for item in node:
                yield from self._direct_substatements(item)

    # -- the write rules -----------------------------------------------------------------

    def write_rules(self, stmt: ast.Node) -> None:
        kind = type(stmt).__name__.removesuffix("Stmt").upper()
        returning = getattr(stmt, "returningClause", None)
        if returning is not None:
            for name in _mutable_calls(returning.exprs, self.catalog):
                self.flag("returning", f"non-IMMUTABLE {name} in the RETURNING of {kind}")
        sets: list[object] = []
        wheres: list[object] = []
        if isinstance(stmt, ast.InsertStmt):
            values = stmt.selectStmt.valuesLists if stmt.selectStmt is not None else None
            for name in _case_problems(values, self.catalog):
                self.flag("case", f"non-IMMUTABLE {name} in INSERT")
            # "subqueries are not supported within INSERT queries": Citus takes a value
            # read from elsewhere as INSERT ... SELECT ... FROM it, not in VALUES.
            if any(isinstance(node, ast.SubLink) for node in walk(values)):
                self.flag("insert-subquery", "a subquery in the VALUES of INSERT")
            conflict = stmt.onConflictClause
            if conflict is not None and conflict.targetList:
                # Citus takes only IMMUTABLE expressions in DO UPDATE SET and its WHERE.
                for node in (conflict.targetList, conflict.whereClause):
                    for name in _mutable_calls(node, self.catalog):
                        self.flag("on-conflict", f"non-IMMUTABLE {name} in ON CONFLICT DO UPDATE")
                    if _interval_arithmetic(node):
                        self.flag(
                            "on-conflict",
                            "timestamptz +/- interval (STABLE) in ON CONFLICT DO UPDATE",
                        )
        elif isinstance(stmt, ast.UpdateStmt):
            sets.append(stmt.targetList)
            wheres.append(stmt.whereClause)
        else:
            wheres.append(stmt.whereClause)
        for node in sets:
            for name in _case_problems(node, self.catalog):
                self.flag("case", f"non-IMMUTABLE {name} in the SET of {kind}")
        for node in sets + wheres:
            for problem in _coordinator_problems(node, self.catalog):
                self.flag("coordinator", f"{problem} in the SET/WHERE of {kind}")

    # -- placement: one user per statement -----------------------------------------------

    def placement(self, stmt: ast.Node, pinned_outer: frozenset[str]) -> frozenset[str]:
        """Check that every distributed table of `stmt` is pinned; return the pinned aliases."""
        tables: dict[str, str] = {}  # alias -> table
        quals: list[object] = []
        relation = getattr(stmt, "relation", None)
        if isinstance(stmt, (ast.UpdateStmt, ast.DeleteStmt)) and relation is not None:
            tables[_alias(relation)] = relation.relname
        from_items = list(getattr(stmt, "fromClause", None) or ())
        from_items += list(getattr(stmt, "usingClause", None) or ())
        for item in from_items:
            self._collect(item, tables, quals)
        quals += _conjuncts(getattr(stmt, "whereClause", None))
        pinned = set(pinned_outer)
        only = next(iter(tables)) if len(tables) == 1 else None
        changed = True
        while changed:
            changed = False
            for qual in quals:
                alias = self._pinned_by(qual, pinned, only)
                if alias is not None and alias not in pinned:
                    pinned.add(alias)
                    changed = True
        distributed = {a: t for a, t in tables.items() if t in self.catalog.distributed}
        locking = bool(getattr(stmt, "lockingClause", None))
        for alias, table in distributed.items():
            if alias in pinned:
                continue
            if not self.jobs:
                self.flag(
                    "single-user",
                    f"{table} is not pinned to one user (user_id = %(user_id)s): cross-shard",
                )
            elif locking:
                self.flag(
                    "jobs",
                    f"a locking claim on {table} spans users: Citus locks rows only in"
                    " single-shard statements (claim from a coordinator-local table instead)",
                )
        if isinstance(stmt, ast.InsertStmt) and stmt.relation.relname in self.catalog.distributed:
            self._insert_pinned(stmt)
        return frozenset(pinned)

    def _collect(self, item: object, tables: dict[str, str], quals: list[object]) -> None:
        if isinstance(item, ast.RangeVar):
            tables[_alias(item)] = item.relname
        elif isinstance(item, ast.JoinExpr):
            self._collect(item.larg, tables, quals)
            self._collect(item.rarg, tables, quals)
            quals += _conjuncts(item.quals)

    def _pinned_by(self, qual: object, pinned: set[str], only: str | None) -> str | None:
        if not (isinstance(qual, ast.A_Expr) and qual.name and qual.name[-1].sval == "="):
            return None
        for this, other in ((qual.lexpr, qual.rexpr), (qual.rexpr, qual.lexpr)):
            alias = _user_id_column(this)
            if alias is None:
                continue
            alias = alias or only
            if alias is None:
                continue
            if _is_user_param(other, self.params):
                return alias
            other_alias = _user_id_column(other)
            if other_alias and other_alias in pinned:
                return alias
        return None

    def _insert_pinned(self, stmt: ast.InsertStmt) -> None:
        columns = [target.name for target in stmt.cols or ()]
        select = stmt.selectStmt
        if select is None or not select.valuesLists:
            return  # INSERT ... SELECT: the SELECT was checked as a statement of its own
        if "user_id" not in columns:
            self.flag("single-user", f"INSERT into {stmt.relation.relname} names no user_id")
            return
        position = columns.index("user_id")
        for row in select.valuesLists:
            if not self.jobs and not _is_user_param(row[position], self.params):
                self.flag(
                    "single-user",
                    f"INSERT into {stmt.relation.relname} writes user_id from something"
                    " other than %(user_id)s",
                )


def _alias(relation: ast.RangeVar) -> str:
    return relation.alias.aliasname if relation.alias is not None else relation.relname


def check_statement(
    text: str, catalog: Catalog, source: str = "<sql>", jobs: bool = False
) -> list[Violation]:
    """Return the Citus rules `text` (one statement with %(name)s parameters) breaks."""
    positional, params = to_positional(text)
    checker = _Checker(source, catalog, params, jobs)
    for raw in parse_sql(positional):
        checker.statement(raw.stmt)
    return checker.violations


def check_sql_dir(directory: Path, catalog: Catalog) -> list[Violation]:
    """Check every statement under `directory` (files under jobs/ follow the jobs rules)."""
    violations = []
    for path in sorted(directory.rglob("*.sql")):
        relative = path.relative_to(directory)
        jobs = relative.parts[0] == "jobs"
        violations += check_statement(
            path.read_text(encoding="utf-8"), catalog, str(relative), jobs
        )
    return violations


def check_foreign_keys(text: str, catalog: Catalog, source: str = "<migration>") -> list[Violation]:
    """Return the foreign keys of a migration that Citus cannot keep on distributed tables."""
    violations = []
    for raw in parse_sql(text):
        stmt = raw.stmt
        keys: list[tuple[str, list[str], ast.Constraint]] = []
        if isinstance(stmt, ast.CreateStmt):
            table = stmt.relation.relname
            for element in stmt.tableElts or ():
                if isinstance(element, ast.Constraint):
                    keys.append((table, [], element))
                elif isinstance(element, ast.ColumnDef):
                    for constraint in element.constraints or ():
                        keys.append((table, [element.colname], constraint))
        elif isinstance(stmt, ast.AlterTableStmt):
            for cmd in stmt.cmds:
                if isinstance(getattr(cmd, "def_", None), ast.Constraint):
                    keys.append((stmt.relation.relname, [], cmd.def_))
        for table, implied, constraint in keys:
            if constraint.contype != ConstrType.CONSTR_FOREIGN:
                continue
            target = constraint.pktable.relname
            fk = [a.sval for a in constraint.fk_attrs or ()] or implied
            pk = [a.sval for a in constraint.pk_attrs or ()] or catalog.primary_keys.get(target, [])
            here, there = table in catalog.distributed, target in catalog.distributed
            name = f"{table}({', '.join(fk)}) -> {target}({', '.join(pk)})"
            if here and there:
                if (
                    "user_id" not in fk
                    or "user_id" not in pk
                    or fk.index("user_id") != pk.index("user_id")
                ):
                    violations.append(
                        Violation(
                            source,
                            "foreign-key",
                            f"{name} links distributed tables without user_id on both sides",
                        )
                    )
            elif here and target not in catalog.reference:
                violations.append(
                    Violation(
                        source,
                        "foreign-key",
                        f"{name}: a distributed table may only reference a distributed or"
                        " reference table",
                    )
                )
            elif there:
                violations.append(
                    Violation(
                        source,
                        "foreign-key",
                        f"{name}: a table that is not distributed cannot reference a distributed"
                        " one",
                    )
                )
    return violations
