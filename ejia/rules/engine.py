"""The engine: programmes checked once, then evaluated per household (explained) or in bulk (SQL)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .checker import parse_expression
from .errors import RuleError
from .evaluator import Compiler, Env, Fn, kleene_and, kleene_any, to_fen
from .explain import Explainer
from .facts import DERIVED_FROM
from .household import STD_PREFIX, prepare
from .nodes import Aggregate, Eligible, FactRef, Known, Node, Standard
from .spec import CriterionResult, HouseholdInput, MemberResult, Outcome, ProgrammeResult, ProgrammeSpec

if TYPE_CHECKING:
    import duckdb
    import pyarrow

CODE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,49}$")
_RESULT = {True: "pass", False: "fail", None: "unknown"}


@dataclass
class Ref:
    kind: str  # fact | standard | eligible
    name: str
    scope: str  # household | member
    in_aggregate: bool


def collect_refs(node: Node) -> list[Ref]:
    found: dict[tuple[str, str, bool], Ref] = {}

    def visit(n: Node, in_agg: bool) -> None:
        if isinstance(n, FactRef | Known):
            found.setdefault(("fact", n.name, in_agg), Ref("fact", n.name, n.scope, in_agg))
        elif isinstance(n, Standard):
            found.setdefault(("standard", n.kind, False), Ref("standard", n.kind, "household", False))
        elif isinstance(n, Eligible):
            found.setdefault(("eligible", n.code, in_agg), Ref("eligible", n.code, "", in_agg))
        for child in n.children():
            visit(child, in_agg or isinstance(n, Aggregate))

    visit(node, False)
    return list(found.values())


@dataclass
class CompiledCriterion:
    label: str
    expr: str
    node: Node
    fn: Fn
    refs: list[Ref]


@dataclass
class CompiledProgramme:
    spec: ProgrammeSpec
    criteria: list[CompiledCriterion]
    amount: Node | None
    amount_fn: Fn | None
    deps: set[str] = field(default_factory=set)

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def target(self) -> str:
        return self.spec.target


@dataclass
class _Raw:
    """One programme's values for one household, before explanations are written."""

    ok: bool | None
    amount: int | None
    criteria: list[bool | None] = field(default_factory=list)
    members: list[tuple[bool | None, int | None, list[bool | None]]] = field(default_factory=list)


class _LazyCriterion(CriterionResult):
    """A criterion result whose values and explanation are written when first read. With a
    `memo` (a dict the caller keeps for many households, `Engine.evaluate(memo=…)`), the
    explanation and the sentence of a criterion come from it when the same criterion had the
    same result over the same values before (`_memo_key`)."""

    __slots__ = ("_ctx", "_key", "_memo", "_sentence")

    def __init__(
        self,
        engine: Engine,
        crit: CompiledCriterion,
        value: bool | None,
        env: Env,
        explainer: Explainer,
        memo: dict | None = None,
    ):
        self.label = crit.label
        self.expr = crit.expr
        self.result = _RESULT[value]
        self._values = None
        self._explanation = None
        self._sentence = None
        self._memo = memo
        self._key = None
        self._ctx = (engine, crit, value, env, explainer, env.m, env.mi)

    def _at_member(self, fn):
        env, member, index = self._ctx[3], self._ctx[5], self._ctx[6]
        saved = env.m, env.mi
        env.m, env.mi = member, index
        try:
            return fn()
        finally:
            env.m, env.mi = saved

    @property
    def values(self) -> dict[str, Any]:
        if self._values is None:
            engine, crit, _, env = self._ctx[:4]
            self._values = self._at_member(lambda: engine._values(crit, env))
        return self._values

    @property
    def explanation(self) -> str:
        if self._explanation is None:
            _, crit, value, _, explainer = self._ctx[:5]
            self._explanation = self._written("explanation", lambda: explainer.criterion(crit.node, value))
        return self._explanation

    @property
    def sentence(self) -> str:
        if self._sentence is None:
            _, crit, value, _, explainer = self._ctx[:5]
            self._sentence = self._written("sentence", lambda: explainer.sentence(crit.node, value))
        return self._sentence

    def _written(self, kind: str, write) -> str:
        if self._memo is None:
            return self._at_member(write)
        key = (kind, *self._memo_key())
        try:
            text = self._memo.get(key)
        except TypeError:  # a value that cannot be a key (none of the catalogue's facts): write it
            return self._at_member(write)
        if text is None:
            text = self._memo[key] = self._at_member(write)
        return text

    def _memo_key(self) -> tuple:
        """Everything the criterion's text is written from: the criterion (of the engine that
        keeps it alive), its result, the number of members, and the value of every fact,
        standard and programme verdict it reads (`_ref_values`: a member fact inside an
        aggregate as the values of all members, besides the member's own), each with its type (1, 1.0 and True are written
        differently). The programme names and the fact labels are the engine's and the
        catalogue's, the same for every household of a memo's life."""
        if self._key is None:
            engine, crit, value, env = self._ctx[:4]
            values = self._at_member(lambda: engine._ref_values(crit, env))
            self._key = (id(crit), value, len(env.members), tuple((k, _frozen(v)) for k, v in values))
        return self._key


def _frozen(value: Any) -> Any:
    """A value with its type, hashable (a list of member values as a tuple)."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return (type(value), value)


class Engine:
    def __init__(self, programmes: Sequence[ProgrammeSpec]) -> None:
        self.specs = list(programmes)
        codes: dict[str, ProgrammeSpec] = {}
        for spec in self.specs:
            if not isinstance(spec.code, str) or not CODE_RE.match(spec.code):
                raise RuleError(f"项目代码“{spec.code}”无效：只能用英文字母、数字和下划线，且不超过50个字符")
            if spec.code in codes:
                raise RuleError(f"项目代码“{spec.code}”重复", programme=spec.code)
            if spec.target not in ("household", "member"):
                raise RuleError(f"未知的项目对象“{spec.target}”，应为 household 或 member", programme=spec.code)
            codes[spec.code] = spec
        self.targets = {code: spec.target for code, spec in codes.items()}
        self.names = {code: spec.name for code, spec in codes.items()}
        self.programmes: dict[str, CompiledProgramme] = {}
        for spec in self.specs:
            self.programmes[spec.code] = self._compile(spec)
        self.order = self._topological_order()
        self._sql_cache: dict[tuple, str] = {}

    # ---- checking
    def _compile(self, spec: ProgrammeSpec) -> CompiledProgramme:
        compiler = Compiler(target=spec.target, targets=self.targets)
        criteria = []
        deps: set[str] = set()
        for crit in spec.criteria:
            try:
                node = parse_expression(crit.expr, target=spec.target, kind="criterion", programme_codes=self.targets)
            except RuleError as exc:
                raise exc.where(programme=spec.code, criterion=crit.label) from None
            refs = collect_refs(node)
            deps |= {r.name for r in refs if r.kind == "eligible"}
            criteria.append(CompiledCriterion(crit.label, crit.expr, node, compiler.compile(node), refs))
        amount = amount_fn = None
        if spec.amount is not None and spec.amount.strip():
            try:
                amount = parse_expression(spec.amount, target=spec.target, kind="amount", programme_codes=self.targets)
            except RuleError as exc:
                raise exc.where(programme=spec.code, criterion="金额") from None
            deps |= {r.name for r in collect_refs(amount) if r.kind == "eligible"}
            amount_fn = compiler.compile(amount)
        return CompiledProgramme(spec, criteria, amount, amount_fn, deps)

    def _topological_order(self) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done
        stack: list[str] = []

        def visit(code: str) -> None:
            if state.get(code) == 2:
                return
            if state.get(code) == 1:
                cycle = [*stack[stack.index(code) :], code]
                raise RuleError(f"项目之间存在循环引用：{' → '.join(cycle)}", programme=code)
            state[code] = 1
            stack.append(code)
            for dep in sorted(self.programmes[code].deps):
                visit(dep)
            stack.pop()
            state[code] = 2
            order.append(code)

        for spec in self.specs:
            visit(spec.code)
        return order

    # ---- per household, explained
    def evaluate(
        self,
        household: HouseholdInput,
        *,
        on: dt.date,
        only: Collection[str] | None = None,
        memo: dict | None = None,
    ) -> dict[str, ProgrammeResult]:
        """Every programme's result with its explanation; with `only`, just those programmes
        (and, unexplained, the programmes they name): the same results for them, less work.
        A bulk caller passes one `memo` dict for all its households: a criterion's explanation
        is then written once for each distinct result and set of values it reads."""
        h, members = prepare(household, on)
        env = Env(h, members)
        needed = None if only is None else self.closure(only)
        raw: dict[str, _Raw] = {}
        for code in self.order:
            if needed is None or code in needed:
                raw[code] = self._run(self.programmes[code], env)
        explainer = Explainer(env, self.names)
        return {
            spec.code: self._result(self.programmes[spec.code], raw[spec.code], env, explainer, memo)
            for spec in self.specs
            if only is None or spec.code in only
        }

    def closure(self, codes: Collection[str]) -> set[str]:
        """The programmes among `codes` and every programme they name, directly or not."""
        found: set[str] = set()
        stack = [c for c in codes if c in self.programmes]
        while stack:
            code = stack.pop()
            if code not in found:
                found.add(code)
                stack.extend(self.programmes[code].deps)
        return found

    def _run(self, prog: CompiledProgramme, env: Env) -> _Raw:
        amount_type = prog.amount.type if prog.amount is not None else "int"
        if prog.target == "household":
            values = [c.fn(env) for c in prog.criteria]
            ok = kleene_and(values)
            amount = None
            if ok is not False and prog.amount_fn is not None:
                amount = to_fen(prog.amount_fn(env), amount_type)
            env.elig_h[prog.code] = ok
            return _Raw(ok, amount, values)
        per_member = []
        oks: list[bool | None] = []
        saved = env.m, env.mi
        try:
            for i, member in enumerate(env.members):
                env.m, env.mi = member, i
                values = [c.fn(env) for c in prog.criteria]
                ok = kleene_and(values)
                amount = None
                if ok is not False and prog.amount_fn is not None:
                    amount = to_fen(prog.amount_fn(env), amount_type)
                per_member.append((ok, amount, values))
                oks.append(ok)
        finally:
            env.m, env.mi = saved
        env.elig_m[prog.code] = oks
        ok = kleene_any(oks)
        amount = None
        if prog.amount_fn is not None and ok is not False:
            # Eligible members' amounts add up; a household that is only possibly eligible
            # is shown what its possibly eligible members would receive.
            counted = [a for o, a, _ in per_member if o is ok]
            amount = None if any(a is None for a in counted) else sum(counted)
        env.elig_h[prog.code] = ok
        return _Raw(ok, amount, [], per_member)

    def _result(
        self, prog: CompiledProgramme, raw: _Raw, env: Env, explainer: Explainer, memo: dict | None = None
    ) -> ProgrammeResult:
        unknown: list[str] = []
        if prog.target == "household":
            criteria = [
                self._criterion(c, v, env, explainer, unknown, memo)
                for c, v in zip(prog.criteria, raw.criteria, strict=True)
            ]
            members: list[MemberResult] = []
        else:
            members = []
            saved = env.m, env.mi
            try:
                for i, (ok, amount, values) in enumerate(raw.members):
                    env.m, env.mi = env.members[i], i
                    crits = [
                        self._criterion(c, v, env, explainer, unknown, memo)
                        for c, v in zip(prog.criteria, values, strict=True)
                    ]
                    members.append(MemberResult(i, Outcome.from_kleene(ok), amount, crits))
            finally:
                env.m, env.mi = saved
            # The programme's own criteria are those of the member who comes closest.
            best = next((m for m in members if m.outcome == Outcome.ELIGIBLE), None) or next(
                (m for m in members if m.outcome == Outcome.POSSIBLY), None
            )
            criteria = best.criteria if best else (members[0].criteria if members else [])
        return ProgrammeResult(
            code=prog.code,
            name=prog.spec.name,
            target=prog.target,  # type: ignore[arg-type]
            outcome=Outcome.from_kleene(raw.ok),
            amount_fen=raw.amount,
            criteria=criteria,
            members=members,
            unknown_facts=unknown,
        )

    def _criterion(
        self,
        crit: CompiledCriterion,
        value: bool | None,
        env: Env,
        explainer: Explainer,
        unknown: list[str],
        memo: dict | None = None,
    ) -> CriterionResult:
        if value is None:
            for name in self._missing(crit, env):
                for source in DERIVED_FROM.get(name, (name,)):
                    if source not in unknown:
                        unknown.append(source)
        return _LazyCriterion(self, crit, value, env, explainer, memo)

    def _missing(self, crit: CompiledCriterion, env: Env) -> list[str]:
        missing = []
        for ref in crit.refs:
            if ref.kind == "standard":
                if env.h.get(STD_PREFIX + ref.name) is None:
                    missing.append(STD_PREFIX + ref.name)
            elif ref.kind == "fact":
                if ref.scope == "member" and (ref.in_aggregate or env.m is None):
                    if any(m[ref.name] is None for m in env.members):
                        missing.append(ref.name)
                elif (env.m[ref.name] if ref.scope == "member" else env.h[ref.name]) is None:
                    missing.append(ref.name)
        return missing

    def _values(self, crit: CompiledCriterion, env: Env) -> dict[str, Any]:
        return dict(self._ref_values(crit, env))

    def _ref_values(self, crit: CompiledCriterion, env: Env) -> list[tuple[str, Any]]:
        """(name, value) of each of the criterion's references, in order: a member fact read
        both for the member and inside an aggregate is there twice (`values` keeps the last)."""
        values: list[tuple[str, Any]] = []
        for ref in crit.refs:
            if ref.kind == "standard":
                values.append((STD_PREFIX + ref.name, env.h.get(STD_PREFIX + ref.name)))
            elif ref.kind == "eligible":
                key = f"eligible:{ref.name}"
                if ref.in_aggregate and self.targets.get(ref.name) == "member":
                    values.append((key, [str(Outcome.from_kleene(v)) for v in env.elig_m.get(ref.name, [])]))
                elif env.m is not None and self.targets.get(ref.name) == "member":
                    values.append((key, str(Outcome.from_kleene(env.elig_m[ref.name][env.mi]))))
                else:
                    values.append((key, str(Outcome.from_kleene(env.elig_h.get(ref.name)))))
            elif ref.scope == "member" and (ref.in_aggregate or env.m is None):
                values.append((ref.name, [m[ref.name] for m in env.members]))
            else:
                values.append((ref.name, env.m[ref.name] if ref.scope == "member" else env.h[ref.name]))
        return values

    # ---- bulk
    def compile_sql(
        self,
        *,
        on: dt.date,
        dialect: str = "duckdb",
        household_columns: Sequence[str] | None = None,
        member_columns: Sequence[str] | None = None,
        amounts: Collection[str] | None = None,
        outcome_codes: bool = False,
    ) -> str:
        """One SQL statement giving every household's outcome and amount for every programme.

        Columns not in `household_columns` / `member_columns` (when given) are unknown for
        everyone. `amounts`: the programmes whose `<code>__amount_fen` column is wanted (all
        when None; no rule reads an amount, so the others cost nothing). `outcome_codes`:
        outcomes as TINYINT indexes into `sql.OUTCOME_CODES` instead of strings. Compiled once
        per date, dialect, column set and these options.
        """
        key = (
            on,
            dialect,
            None if household_columns is None else tuple(sorted(household_columns)),
            None if member_columns is None else tuple(sorted(member_columns)),
            None if amounts is None else tuple(sorted(amounts)),
            outcome_codes,
        )
        sql = self._sql_cache.get(key)
        if sql is None:
            from .sql import SqlCompiler

            compiler = SqlCompiler(
                self,
                on=on,
                household_columns=household_columns,
                member_columns=member_columns,
                amounts=amounts,
                outcome_codes=outcome_codes,
            )
            sql = self._sql_cache[key] = compiler.sql(dialect)
        return sql

    def evaluate_bulk(
        self, con: duckdb.DuckDBPyConnection, *, on: dt.date, amounts: Collection[str] | None = None
    ) -> pyarrow.Table:
        """Every programme over the connection's `households`, `members` and `standards`: one row
        per household, `<code>__outcome` (dictionary-encoded strings: "eligible",
        "possibly_eligible", "not_eligible") and `<code>__amount_fen` for the programmes of
        `amounts` (all when None; `amounts=()` for outcomes only, much cheaper)."""
        import pyarrow as pa

        from .sql import decode_outcomes, table_columns

        asked = list(self.programmes) if amounts is None else list(amounts)
        # A programme without an amount formula has an all-NULL amount column: added here
        # rather than computed and converted row by row.
        computed = [c for c in asked if c not in self.programmes or self.programmes[c].amount is not None]
        sql = self.compile_sql(
            on=on,
            household_columns=table_columns(con, "households"),
            member_columns=table_columns(con, "members"),
            amounts=computed,
            outcome_codes=True,
        )
        table = decode_outcomes(con.sql(sql).to_arrow_table())
        if len(computed) == len(set(asked)):
            return table
        wanted = set(asked)
        names, columns = [], []
        for code in (spec.code for spec in self.specs):  # the statement's order
            names.append(f"{code}__outcome")
            columns.append(table.column(f"{code}__outcome"))
            if code in wanted:
                names.append(f"{code}__amount_fen")
                if self.programmes[code].amount is None:
                    columns.append(pa.nulls(table.num_rows, pa.int64()))
                else:
                    columns.append(table.column(f"{code}__amount_fen"))
        return pa.Table.from_arrays([table.column("household_id"), *columns], names=["household_id", *names])
