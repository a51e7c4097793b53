"""The bulk back-end: all programmes compiled to one SQL statement with sqlglot.

Shape of the statement (k = 0 … K stages; a stage exists because a programme may depend on
another programme's result, and a column cannot name another column of the same SELECT):

    agg0 — members grouped once: size, income total and how many incomes are unknown
    std  — the standards table pivoted to one row per (region_code, urban)
    hb   — households with derived facts and their standards
    mb   — members with derived facts (age)
    m_k  — m_{k-1} ⋈ h_{k-1}: per-member criteria of member programmes of stage k, and the
           per-member inputs of member aggregates of stage k
    a_k  — m_k grouped by household: aggregate parts and member-programme roll-ups (yes/no
           parts as bits in BIT_OR words; member counts packed into 64-bit sums)
    h_k  — h_{k-1} ⟕ a_k: household programmes of stage k
    v_k  — the amounts of stage k, over h_k's outcome columns, only where not ineligible
    vp   — the amounts of the programmes computed before the member pass (hp)
    final — one row per household: <code>__outcome, <code>__amount_fen

Members are scanned once per stage (usually two), never once per programme, and never with a
correlated subquery. NULL is unknown, so SQL's own three-valued logic is the language's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from .facts import HOUSEHOLD_FACTS, MEMBER_FACTS, STANDARD_KINDS
from .nodes import (
    Aggregate,
    Arith,
    BoolOp,
    Compare,
    Const,
    Eligible,
    FactRef,
    IfElse,
    InList,
    Known,
    MinMax,
    Neg,
    Node,
    Not,
    RoundYuan,
    Standard,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from .engine import CompiledProgramme, Engine

SQL_TYPES = {
    "int": "BIGINT",
    "money": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "str": "TEXT",
    "enum": "TEXT",
    "date": "DATE",
}
_CMP = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE, "==": exp.EQ, "!=": exp.NEQ}
_ARITH = {"+": exp.Add, "-": exp.Sub, "*": exp.Mul}
# The outcome a code stands for when the statement gives codes (`outcome_codes=True`): the
# programme's result cast to TINYINT (false 0, true 1) with unknown as 2 — the cheapest form
# for DuckDB (one CAST and one COALESCE per programme and household).
OUTCOME_CODES = ("not_eligible", "eligible", "possibly_eligible")
DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "postgresql": "postgres", "spark": "spark"}
# Member counts (eligible / possibly eligible members of a member programme whose amount is
# the same for every member, or on each branch of a per-member amount) are packed COUNT_BITS
# to a field, COUNT_FIELDS fields to one 64-bit sum: the member GROUP BY's cost grows with its
# number of aggregates (27 words at 15 bits against 21 at 12: ≈ 10 % of the whole statement at
# 1.3 M households). A household of 2^COUNT_BITS (4,096) members or more could overflow a
# field: what is read from its counts (the counted amounts, and with amounts asked for those
# roll-ups' outcomes) is unknown instead (the `count_guard` column); outcomes alone stay exact.
COUNT_BITS = 12
COUNT_FIELDS = 5


def table_columns(con: Any, table: str) -> list[str]:
    return list(con.table(table).columns)


def decode_outcomes(table: pa.Table) -> pa.Table:
    """The `<code>__outcome` columns of a statement compiled with `outcome_codes=True`, as
    dictionary arrays over OUTCOME_CODES: the codes are the indices, so nothing is copied per
    row, and every reader (`to_pylist`, DuckDB, pandas) sees the outcome strings."""
    import pyarrow as pa

    dictionary = pa.array(OUTCOME_CODES)
    kind = pa.dictionary(pa.int8(), pa.string())
    for i, name in enumerate(table.column_names):
        if name.endswith("__outcome"):
            column = table.column(i)
            chunks = [pa.DictionaryArray.from_arrays(chunk, dictionary) for chunk in column.chunks]
            table = table.set_column(i, name, pa.chunked_array(chunks, type=kind))
    return table


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


def num(value: int | float) -> exp.Expression:
    return exp.Literal.number(value)


def cast(e: exp.Expression, to: str) -> exp.Expression:
    return exp.Cast(this=e, to=exp.DataType.build(to))


def paren(e: exp.Expression) -> exp.Expression:
    if isinstance(e, exp.Column | exp.Literal | exp.Paren | exp.Boolean | exp.Null | exp.Cast):
        return e
    return exp.Paren(this=e)


def is_null(e: exp.Expression) -> exp.Expression:
    return exp.Is(this=paren(e), expression=exp.Null())


def not_null(e: exp.Expression) -> exp.Expression:
    return exp.Not(this=is_null(e))


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None) -> exp.Case:
    node = exp.Case()
    for cond, then in whens:
        node = node.when(cond, then, copy=False)
    if default is not None:
        node = node.else_(default, copy=False)
    return node


def simple_case(
    subject: exp.Expression, *whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None
) -> exp.Case:
    node = exp.Case(this=paren(subject))
    for value, then in whens:
        node = node.when(value, then, copy=False)
    if default is not None:
        node = node.else_(default, copy=False)
    return node


def and_all(items: Sequence[exp.Expression]) -> exp.Expression:
    if not items:
        return exp.true()
    result = paren(items[0])
    for item in items[1:]:
        result = exp.And(this=result, expression=paren(item))
    return result


def zero_if_null(e: exp.Expression) -> exp.Expression:
    return exp.Coalesce(this=e, expressions=[num(0)])


def alias(e: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=e, alias=exp.to_identifier(name, quoted=True))


def ok_col(code: str) -> str:
    return f"p__{code}__ok"


def amt_col(code: str) -> str:
    return f"p__{code}__amt"


def eligibles(node: Node) -> set[str]:
    return {n.code for n in node.walk() if isinstance(n, Eligible)}


@dataclass
class AggInfo:
    node: Aggregate
    name: str
    stage: int


@dataclass
class Stage:
    member_programmes: list[str] = field(default_factory=list)
    rollups: list[str] = field(default_factory=list)
    household_programmes: list[str] = field(default_factory=list)
    aggregates: list[AggInfo] = field(default_factory=list)


@dataclass
class Ctx:
    in_member: bool
    # "m": building m_k (aliases m, h); "h": building h_k (aliases h, a); "p": hp (alias h);
    # "v": building v_k, the amounts of stage k, over h_k (alias h: every result is a column)
    where: str
    stage: int


@dataclass
class Leaf:
    """One value a per-member amount can take, the same for every member of a household
    (a standard, a constant, household facts): `value(ctx)` builds it."""

    value: Callable[[Ctx], exp.Expression]


@dataclass
class Pick:
    """A per-member choice between two subtrees (`a if cond else b` with a member-level cond)."""

    cond: Node
    then: Leaf | Pick
    other: Leaf | Pick


def _place(taken: list[int], size: int) -> tuple[int, int]:
    """First fit of `size` packed count fields: (word, shift); `taken` counts fields per word."""
    for word, n in enumerate(taken):
        if n + size <= COUNT_FIELDS:
            taken[word] += size
            return word, COUNT_BITS * n
    taken.append(size)
    return len(taken) - 1, 0


def _as_double(leaf: Leaf) -> Leaf:
    return Leaf(lambda ctx: cast(paren(leaf.value(ctx)), "DOUBLE"))


def leaves(tree: Leaf | Pick) -> list[Leaf]:
    return [tree] if isinstance(tree, Leaf) else [*leaves(tree.then), *leaves(tree.other)]


def map_leaves(tree: Leaf | Pick, f: Callable[[Leaf], Leaf]) -> Leaf | Pick:
    if isinstance(tree, Leaf):
        return f(tree)
    return Pick(tree.cond, map_leaves(tree.then, f), map_leaves(tree.other, f))


class SqlCompiler:
    def __init__(
        self,
        engine: Engine,
        *,
        on: dt.date,
        household_columns: Sequence[str] | None = None,
        member_columns: Sequence[str] | None = None,
        amounts: Collection[str] | None = None,
        outcome_codes: bool = False,
    ) -> None:
        self.engine = engine
        self.on = on
        # Amounts are only ever read by the caller (no rule reads another programme's amount),
        # so a programme whose amount is not asked for costs no amount work at all.
        wanted = set(engine.programmes) if amounts is None else set(amounts)
        unknown = sorted(wanted - set(engine.programmes))
        if unknown:
            raise ValueError(f"amounts asked for unknown programmes: {', '.join(unknown)}")
        self.asked = wanted  # each gets an `<code>__amount_fen` column (NULL for a programme without amount)
        self.amounts = {code for code in wanted if engine.programmes[code].amount is not None}
        self.outcome_codes = outcome_codes
        self.hcols = None if household_columns is None else {c.lower() for c in household_columns}
        self.mcols = None if member_columns is None else {c.lower() for c in member_columns}
        self.stage_of: dict[str, int] = {}
        self.aggs: dict[int, AggInfo] = {}
        self._slot: dict[tuple[int, tuple[str, str]], tuple[int, int]] = {}
        # (stage, code, part) → (word, shift) of packed member counts: "nt" / "nu" a counted
        # programme's eligible / possibly eligible members, "e" / "p" the first field of a
        # branched programme's eligible / possibly eligible members per branch.
        self._count_slot: dict[tuple[int, str, str], tuple[int, int]] = {}
        self._count_words: list[int] = []
        self._dialect = "duckdb"
        self._trees: dict[str, Leaf | Pick] = {}
        # roll-up (same_ok leader) → (code, eligible slot, possibly slot) of the counts it reads
        self._count_tri: dict[str, tuple[str, str, str]] = {}
        self._plan()

    # ---- planning
    def _roots(self, prog: CompiledProgramme) -> list[Node]:
        roots = [c.node for c in prog.criteria]
        if prog.code in self.amounts:
            roots.append(prog.amount)
        return roots

    def _is_rollup_any(self, n: Node) -> bool:
        # any_member(eligible("m")) of a member programme is that programme's household
        # result: read the roll-up instead of scanning the members again.
        return (
            isinstance(n, Aggregate)
            and n.kind == "any"
            and isinstance(n.expr, Eligible)
            and self.engine.targets[n.expr.code] == "member"
        )

    def _aggregates(self, node: Node) -> list[Aggregate]:
        return [n for n in node.walk() if isinstance(n, Aggregate) and not self._is_rollup_any(n)]

    def _outside(self, node: Node) -> list[tuple[str, bool]]:
        """Programmes named outside member aggregates: (code, read as the household roll-up)."""
        found: list[tuple[str, bool]] = []

        def visit(n: Node) -> None:
            if self._is_rollup_any(n):
                found.append((n.expr.code, True))  # type: ignore[attr-defined]
                return
            if isinstance(n, Aggregate):
                return
            if isinstance(n, Eligible):
                found.append((n.code, False))
            for child in n.children():
                visit(child)

        visit(node)
        return found

    def _member_level(self, node: Node) -> bool:
        """Whether a criterion of a member programme depends on the member it is evaluated for."""
        targets = self.engine.targets

        def visit(n: Node) -> bool:
            if self._is_rollup_any(n) or isinstance(n, Aggregate):
                return False
            if isinstance(n, FactRef | Known) and n.scope == "member":
                return True
            if isinstance(n, Eligible) and targets[n.code] == "member":
                return True
            return any(visit(c) for c in n.children())

        return visit(node)

    def _plan(self) -> None:
        engine = self.engine
        targets = engine.targets
        # Member programmes whose per-member result another rule reads member by member.
        self.per_member: set[str] = set()
        # Member programmes whose amount is the same for every member (a standard, a constant,
        # household facts): the sum over eligible members is their count times that amount, so
        # the member pass counts instead of summing, and computes no amount per member.
        self.flat_amounts: set[str] = {
            code
            for code in self.amounts
            if targets[code] == "member"
            and not self._member_level(engine.programmes[code].amount)
            and not any(isinstance(n, Aggregate) for n in engine.programmes[code].amount.walk())
        }
        # Member programmes whose per-member amount picks one of a few member-independent values
        # by member facts (特困's care standard by self-care, 高龄津贴's age bands, 孤儿's
        # institution or family …): the member pass counts the members on each branch, packed
        # like the counts above, and the household multiplies — no per-member sums.
        self.branched: dict[str, list[Leaf]] = {}
        for code in sorted(self.amounts - self.flat_amounts):
            if targets[code] != "member":
                continue
            tree = self._branch_tree(engine.programmes[code].amount)
            if isinstance(tree, Pick) and len(leaves(tree)) + 1 <= COUNT_FIELDS:
                self._trees[code] = tree
                self.branched[code] = leaves(tree)
        for prog in engine.programmes.values():
            for root in self._roots(prog):
                if prog.target == "member":
                    self.per_member |= {c for c, rollup in self._outside(root) if not rollup and targets[c] == "member"}
                for agg in self._aggregates(root):
                    self.per_member |= {c for c in eligibles(agg) if targets[c] == "member"}
        # A member programme's household-level criteria (assets, eligible("dibao") …) are
        # evaluated once per household and joined to the roll-up of its member-level ones:
        # any(mᵢ ∧ h) = any(mᵢ) ∧ h in Kleene logic too. This keeps members to one pass.
        self.member_criteria: dict[str, list[Node]] = {}
        self.household_criteria: dict[str, list[Node]] = {}
        self.member_stage: dict[str, int] = {}
        # Household programmes that read no member aggregate and no roll-up (dibao by income
        # and assets, …), directly or through the programmes they name, are computed once on
        # the households before any member pass ("hp"), so member criteria that name them
        # (eligible("dibao") or eligible("tekun") …) need no second member pass.
        self.pre: list[str] = []
        for code in engine.order:
            prog = engine.programmes[code]
            nodes = [c.node for c in prog.criteria]
            if prog.target == "household" and all(
                not self._aggregates(root) and all(dep in self.pre for dep, _ in self._outside(root))
                for root in self._roots(prog)
            ):
                self.pre.append(code)
                self.stage_of[code] = 0
                continue
            if prog.target == "member":
                if code in self.per_member:
                    member_nodes, house_nodes = nodes, []
                else:
                    member_nodes = [n for n in nodes if self._member_level(n)]
                    house_nodes = [n for n in nodes if not self._member_level(n)]
                self.member_criteria[code] = member_nodes
                self.household_criteria[code] = house_nodes
                member_roots = member_nodes + ([prog.amount] if code in self.amounts else [])
                s_member = self._stage(member_roots, member_context=True)
                s_house = self._stage(house_nodes, member_context=False)
                self.member_stage[code] = s_member
                self.stage_of[code] = max(s_member, s_house)
            else:
                self.stage_of[code] = self._stage(self._roots(prog), member_context=False)
        self.n_stages = max([0, *self.stage_of.values(), *(a.stage for a in self.aggs.values())]) + 1
        self.stages = [Stage() for _ in range(self.n_stages)]
        for code in engine.order:
            if targets[code] == "member":
                self.stages[self.member_stage[code]].member_programmes.append(code)
                self.stages[self.stage_of[code]].rollups.append(code)
            elif code not in self.pre:
                self.stages[self.stage_of[code]].household_programmes.append(code)
        for info in self.aggs.values():
            self.stages[info.stage].aggregates.append(info)
        # Member programmes of one pass whose member-level criteria are the same expression
        # (the three veterans' programmes, 高校新生 and 希望工程 …) share one roll-up: one pair of
        # flag bits and, for a member-independent amount, one pair of counts.
        self.same_ok: dict[str, str] = {}
        self.counted: set[str] = set()
        # Flag bits, 62 to a word (BIGINT, sign bit unused), per stage. A group (a yes/unknown
        # pair read from one three-valued member value) never straddles two words. A stage's
        # member criteria read only earlier stages' flags, so its own are placed after them.
        self._words: list[list[list[tuple[tuple[str, str], ...]]]] = []
        for k, stage in enumerate(self.stages):
            ctx = Ctx(in_member=True, where="m", stage=k)
            first: dict[str, str] = {}
            for code in stage.member_programmes:
                key = and_all([self.expr(n, ctx) for n in self.member_criteria[code]]).sql("duckdb")
                self.same_ok[code] = first.setdefault(key, code)
                if code in self.flat_amounts:
                    self.counted.add(self.same_ok[code])
            # A roll-up whose members are counted anyway (amounts asked for) reads "some member
            # eligible / possibly" from the counts: no flag pair, so one CASE less per member.
            for code in stage.member_programmes:
                leader = self.same_ok[code]
                if leader in self.counted:
                    self._count_tri.setdefault(leader, (leader, "nt", "nu"))
                elif code in self.branched:
                    self._count_tri.setdefault(leader, (code, "e", "p"))
            words: list[list[tuple[tuple[str, str], ...]]] = []
            used = 62
            for group in self._flag_groups(stage):
                if used + len(group) > 62:
                    words.append([])
                    used = 0
                for key in group:
                    self._slot[(k, key)] = (len(words) - 1, used)
                    used += 1
                words[-1].append(group)
            self._words.append(words)
            # Packed count fields, first fit: a counted programme's pair (eligible, possibly);
            # a branched one's eligible members per branch plus those whose branch is unknown,
            # and the same for possibly eligible members.
            taken: list[int] = []  # fields taken in each word
            for code in stage.member_programmes:
                if code in self.counted:
                    word, shift = _place(taken, 2)
                    self._count_slot[(k, code, "nt")] = (word, shift)
                    self._count_slot[(k, code, "nu")] = (word, shift + COUNT_BITS)
                if code in self.branched:
                    size = len(self.branched[code]) + 1
                    self._count_slot[(k, code, "e")] = _place(taken, size)
                    self._count_slot[(k, code, "p")] = _place(taken, size)
            self._count_words.append(len(taken))

    def _stage(self, roots: list[Node], *, member_context: bool) -> int:
        targets = self.engine.targets
        stage = 0
        for root in roots:
            for agg in self._aggregates(root):
                if id(agg) not in self.aggs:
                    # Inside an aggregate a member programme is the member's own result,
                    # recomputed in place; a household programme comes from the last pass.
                    agg_stage = max(
                        [
                            0,
                            *(
                                self.stage_of[c] + (0 if targets[c] == "member" or c in self.pre else 1)
                                for c in eligibles(agg)
                            ),
                        ]
                    )
                    self.aggs[id(agg)] = AggInfo(agg, f"g{len(self.aggs)}", agg_stage)
                stage = max(stage, self.aggs[id(agg)].stage + (1 if member_context else 0))
            for dep, _rollup in self._outside(root):
                if dep in self.pre:
                    continue  # computed before the first member pass
                # In a household pass, a programme of the same stage is inlined (its criteria
                # are repeated), so it costs no extra stage; a member pass reads the previous
                # household pass.
                if member_context and targets[dep] == "member" and not _rollup:
                    stage = max(stage, self.stage_of[dep])  # the same member's result, inlined
                else:
                    stage = max(stage, self.stage_of[dep] + (1 if member_context else 0))
        return stage

    def _branch_tree(self, node: Node) -> Leaf | Pick | None:
        """The per-member amount as a choice between member-independent values, or None when
        it is not one (a value computed from a member's own income, a member aggregate …)."""
        if not self._member_level(node):
            if any(isinstance(n, Aggregate) for n in node.walk()):
                return None
            return Leaf(lambda ctx, node=node: self.expr(node, ctx))
        if isinstance(node, IfElse):
            then, other = self._branch_tree(node.then), self._branch_tree(node.other)
            if then is None or other is None:
                return None
            if node.type == "float":  # as _IfElse: both branches in doubles
                then = map_leaves(then, _as_double)
                other = map_leaves(other, _as_double)
            return Pick(node.cond, then, other)
        if isinstance(node, Arith):
            member_left = self._member_level(node.left)
            if member_left == self._member_level(node.right):
                return None
            fixed = node.right if member_left else node.left
            tree = self._branch_tree(node.left if member_left else node.right)
            if tree is None or any(isinstance(n, Aggregate) for n in fixed.walk()):
                return None

            def combine(leaf: Leaf) -> Leaf:
                def value(ctx: Ctx) -> exp.Expression:  # as _Arith, the fixed side unchanged
                    a, b = leaf.value(ctx), self.expr(fixed, ctx)
                    left, right = (a, b) if member_left else (b, a)
                    if node.op == "/":
                        return self._div(left, right)
                    if node.type == "float":
                        left, right = cast(paren(left), "DOUBLE"), cast(paren(right), "DOUBLE")
                    return _ARITH[node.op](this=paren(left), expression=paren(right))

                return Leaf(value)

            return map_leaves(tree, combine)
        return None

    def _selection(self, code: str, ctx: Ctx) -> exp.Expression:
        """A member's branch of a branched amount as a 1 in that branch's packed field; members
        whose branch is unknown (an unknown condition) count in the field after the last branch."""
        n = len(self.branched[code])
        position = iter(range(n))

        def pick(tree: Leaf | Pick) -> exp.Expression:
            if isinstance(tree, Leaf):
                return num(2 ** (COUNT_BITS * next(position)))
            then, other = pick(tree.then), pick(tree.other)
            return simple_case(
                self.expr(tree.cond, ctx),
                (exp.true(), then),
                (exp.false(), other),
                default=num(2 ** (COUNT_BITS * n)),
            )

        return cast(pick(self._trees[code]), "BIGINT")

    def _leaf_amount(self, code: str, leaf: Leaf, ctx: Ctx) -> exp.Expression:
        value = leaf.value(ctx)
        if self.engine.programmes[code].amount.type == "float":  # half up to whole fen, as _amount
            value = exp.Floor(this=exp.Add(this=paren(value), expression=num(0.5)))
        return cast(value, "BIGINT")

    def _branched_part(self, stage: int, code: str, name: str, table: str, ctx: Ctx) -> exp.Expression:
        """ta / ua: the eligible / possibly eligible members' amounts, branch count × branch
        value (a branch nobody is on adds 0 even if its value is unknown); tn / un: whether
        some such member's branch is unknown."""
        word, shift = self._count_slot[(stage, code, "e" if name in ("ta", "tn") else "p")]
        branches = self.branched[code]
        if name in ("tn", "un"):
            return exp.GT(this=self._field(stage, word, shift + COUNT_BITS * len(branches), table), expression=num(0))
        total: exp.Expression | None = None
        for i, leaf in enumerate(branches):
            n = self._field(stage, word, shift + COUNT_BITS * i, table)
            term = case(
                (exp.EQ(this=n, expression=num(0)), num(0)),
                default=exp.Mul(this=n, expression=paren(self._leaf_amount(code, leaf, ctx))),
            )
            total = term if total is None else exp.Add(this=total, expression=term)
        return exp.Paren(this=exp.Add(this=paren(total), expression=col("count_guard", "h")))

    # ---- the statement
    def build(self) -> exp.Select:
        engine = self.engine
        referenced_h: set[str] = {"financial_assets_fen"}
        referenced_m: set[str] = {"income_month_fen"}
        kinds: set[str] = set()
        for prog in engine.programmes.values():
            for root in self._roots(prog):
                for n in root.walk():
                    if isinstance(n, FactRef | Known):
                        (referenced_m if n.scope == "member" else referenced_h).add(n.name)
                    elif isinstance(n, Standard):
                        kinds.add(n.kind)
        self._needs_age = "age" in referenced_m
        if self._needs_age:
            referenced_m.add("birth_date")
        plain_h = sorted(n for n in referenced_h if not HOUSEHOLD_FACTS[n].derived)
        plain_m = sorted(n for n in referenced_m if not MEMBER_FACTS[n].derived)
        std_kinds = [k for k in STANDARD_KINDS if k in kinds]

        ctes: list[tuple[str, exp.Expression]] = []
        # agg0: size and income, the derived facts every household needs.
        income = self._member_fact("income_month_fen", "mm")
        agg0 = (
            exp.select(
                alias(col("household_id", "mm"), "household_id"),
                alias(exp.Count(this=exp.Star()), "n"),
                alias(cast(exp.Sum(this=income), "BIGINT"), "inc"),
                alias(exp.Max(this=case((is_null(income), num(1)), default=num(0))), "inc_null"),
            )
            .from_(exp.to_table("members").as_("mm"), copy=False)
            .group_by(col("household_id", "mm"), copy=False)
        )
        ctes.append(("agg0", agg0))
        std_select = exp.select(col("region_code", "s"), col("urban", "s"))
        for kind in std_kinds:
            std_select = std_select.select(
                alias(
                    cast(
                        exp.Max(
                            this=case(
                                (
                                    exp.EQ(this=col("kind", "s"), expression=exp.Literal.string(kind)),
                                    col("amount_fen", "s"),
                                )
                            )
                        ),
                        "BIGINT",
                    ),
                    f"std__{kind}",
                ),
                copy=False,
            )
        std_select = std_select.from_(exp.to_table("standards").as_("s"), copy=False).group_by(
            col("region_code", "s"), col("urban", "s"), copy=False
        )
        ctes.append(("std", std_select))

        size = zero_if_null(col("n", "g"))
        total = case(
            (exp.GT(this=zero_if_null(col("inc_null", "g")), expression=num(0)), exp.Null()),
            default=zero_if_null(col("inc", "g")),
        )
        hb = exp.select(alias(col("household_id", "hh"), "household_id"))
        for name in plain_h:
            hb = hb.select(alias(self._household_fact(name, "hh"), name), copy=False)
        hb = hb.select(
            alias(cast(size, "BIGINT"), "size"),
            alias(cast(total, "BIGINT"), "income_total_month_fen"),
            alias(self._div(total, size), "income_per_capita_month_fen"),
            alias(
                self._div(self._household_fact("financial_assets_fen", "hh"), size), "financial_assets_per_capita_fen"
            ),
            copy=False,
        )
        for kind in std_kinds:
            hb = hb.select(col(f"std__{kind}", "st"), copy=False)
        if self.counted or self.branched:
            # 0 for a household whose packed member counts cannot overflow, else unknown
            guard = case((exp.LT(this=paren(size), expression=num(2**COUNT_BITS)), num(0)))
            hb = hb.select(alias(cast(guard, "BIGINT"), "count_guard"), copy=False)
        hb = hb.from_(exp.to_table("households").as_("hh"), copy=False).join(
            exp.to_table("agg0").as_("g"),
            on=exp.EQ(this=col("household_id", "g"), expression=col("household_id", "hh")),
            join_type="left",
            copy=False,
        )
        region = self._household_fact("region_code", "hh")
        urban = self._household_fact("urban", "hh")
        hb = hb.join(
            exp.to_table("std").as_("st"),
            on=exp.And(
                this=exp.EQ(this=col("region_code", "st"), expression=region),
                expression=exp.EQ(this=col("urban", "st"), expression=urban),
            ),
            join_type="left",
            copy=False,
        )
        ctes.append(("hb", hb))

        mb = exp.select(col("household_id", "mm"), col("member_index", "mm"))
        for name in plain_m:
            if name == "birth_date":
                mb = mb.select(alias(self._birth_date(), "birth_date"), copy=False)
            else:
                mb = mb.select(alias(self._member_fact(name, "mm"), name), copy=False)
        if self._needs_age:
            mb = mb.select(alias(self._age(self._birth_date()), "age"), copy=False)
        mb = mb.from_(exp.to_table("members").as_("mm"), copy=False)
        ctes.append(("mb", mb))

        m_prev, h_prev = "mb", "hb"
        if self.pre:
            pre = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("h")))
            ctx = Ctx(in_member=False, where="p", stage=0)
            for code in self.pre:  # outcomes only: their amounts come after the last pass
                ok = and_all([self.expr(c.node, ctx) for c in engine.programmes[code].criteria])
                pre = pre.select(alias(ok, ok_col(code)), copy=False)
            ctes.append(("hp", pre.from_(exp.to_table("hb").as_("h"), copy=False)))
            h_prev = "hp"
        for k, stage in enumerate(self.stages):
            member_work = bool(stage.member_programmes or stage.aggregates)
            a_name = None
            if member_work:
                m_name, a_name = f"m{k}", f"a{k}"
                ctes.append((m_name, self._member_pass(k, stage, m_prev, h_prev)))
                ctes.append((a_name, self._aggregate_pass(k, stage, m_name)))
            h_name = f"h{k}"
            ctes.append((h_name, self._household_pass(k, stage, h_prev, a_name)))
            h_prev = h_name
            if any(code in self.amounts for code in (*stage.rollups, *stage.household_programmes)):
                ctes.append((f"v{k}", self._amount_pass(k, stage.rollups, stage.household_programmes, h_prev)))
                h_prev = f"v{k}"
        pre_amounts = [code for code in self.pre if code in self.amounts]
        if pre_amounts:
            ctes.append(("vp", self._amount_pass(self.n_stages - 1, [], pre_amounts, h_prev)))
            h_prev = "vp"

        final = exp.select(col("household_id", "h"))
        for spec in engine.specs:
            ok = col(ok_col(spec.code), "h")
            if self.outcome_codes:
                # Small integers, OUTCOME_CODES[i] — no string per row and household.
                outcome = exp.Coalesce(this=cast(ok, "TINYINT"), expressions=[cast(num(2), "TINYINT")])
            else:
                outcome = simple_case(
                    ok,
                    (exp.true(), exp.Literal.string("eligible")),
                    (exp.false(), exp.Literal.string("not_eligible")),
                    default=exp.Literal.string("possibly_eligible"),
                )
            final = final.select(alias(outcome, f"{spec.code}__outcome"), copy=False)
            if spec.code in self.asked:
                # the amount passes give NULL where the programme is ineligible
                amount = col(amt_col(spec.code), "h") if spec.code in self.amounts else exp.Null()
                final = final.select(alias(cast(amount, "BIGINT"), f"{spec.code}__amount_fen"), copy=False)
        final = final.from_(exp.to_table(h_prev).as_("h"), copy=False)
        for name, body in ctes:
            final = final.with_(name, as_=body, copy=False)
        return final

    def sql(self, dialect: str = "duckdb") -> str:
        target = DIALECTS.get(dialect)
        if target is None:
            raise ValueError(f"unsupported dialect {dialect!r}")
        self._dialect = target
        return self.build().sql(dialect=target)

    # ---- passes
    def _member_pass(self, k: int, stage: Stage, m_prev: str, h_prev: str) -> exp.Select:
        # Every member pass reads the base members (never the previous pass), so no pass is
        # materialised; a member's result in another programme is recomputed in place.
        select = exp.select(col("household_id", "m"), col("member_index", "m"))
        ctx = Ctx(in_member=True, where="m", stage=k)
        for code in stage.member_programmes:
            ok = and_all([self.expr(n, ctx) for n in self.member_criteria[code]])
            select = select.select(alias(ok, ok_col(code)), copy=False)
            if code in self.branched:
                select = select.select(alias(self._selection(code, ctx), f"p__{code}__sel"), copy=False)
            elif code in self.amounts and code not in self.flat_amounts:
                select = select.select(
                    alias(self._amount(self.engine.programmes[code], ctx), amt_col(code)), copy=False
                )
        for info in stage.aggregates:
            for part, value in self._agg_inputs(info, ctx):
                select = select.select(alias(value, f"{info.name}__in_{part}"), copy=False)
        return select.from_(exp.to_table(m_prev).as_("m"), copy=False).join(
            exp.to_table(h_prev).as_("h"),
            on=exp.EQ(this=col("household_id", "m"), expression=col("household_id", "h")),
            copy=False,
        )

    def _agg_inputs(self, info: AggInfo, ctx: Ctx) -> list[tuple[str, exp.Expression]]:
        node = info.node
        one, zero = num(1), num(0)
        if node.kind in ("any", "all"):
            return [("c", self.expr(node.expr, ctx))]
        if node.kind == "count":
            c = self.expr(node.expr, ctx)
            return [("n", case((paren(c), one))), ("u", case((is_null(c), one), default=zero))]
        e = self.expr(node.expr, ctx)
        if node.cond is None:
            return [("s", e), ("u", case((is_null(e), one), default=zero))]
        c = self.expr(node.cond, ctx)
        unknown = exp.Or(this=is_null(c), expression=exp.And(this=paren(c), expression=is_null(e)))
        return [("s", case((paren(c), e))), ("u", case((unknown, one), default=zero))]

    def _aggregate_pass(self, k: int, stage: Stage, m_name: str) -> exp.Select:
        # Only sums and counts are aggregated one by one; every yes/no part (a roll-up's "some
        # member eligible / possibly", an any/all aggregate's value, "some amount unknown") is a
        # bit in a 62-bit word, one BIT_OR per word: a GROUP BY with a few aggregates is much
        # faster than with one per programme.
        select = exp.select(col("household_id", "m"))
        for info in stage.aggregates:
            node = info.node
            if node.kind == "count":
                select = select.select(
                    alias(cast(exp.Count(this=col(f"{info.name}__in_n", "m")), "BIGINT"), f"{info.name}__n"), copy=False
                )
            elif node.kind == "sum":
                total = exp.Sum(this=col(f"{info.name}__in_s", "m"))
                select = select.select(alias(cast(total, SQL_TYPES[node.type]), f"{info.name}__s"), copy=False)
        packed: list[exp.Expression | None] = [None] * self._count_words[k]

        def add(word: int, term: exp.Expression) -> None:
            prior = packed[word]
            packed[word] = cast(term, "BIGINT") if prior is None else exp.Add(this=prior, expression=term)

        for code in stage.member_programmes:
            ok, amt = col(ok_col(code), "m"), col(amt_col(code), "m")
            if code in self.counted:
                # eligible → 1 in the programme's first field, possibly → 1 in its second
                word, nt = self._count_slot[(k, code, "nt")]
                _, nu = self._count_slot[(k, code, "nu")]
                term = case((paren(ok), num(2**nt)), (is_null(ok), num(2**nu)), default=num(0))
                add(word, term)
            if code in self.branched:
                sel = col(f"p__{code}__sel", "m")
                (we, se), (wp, sp) = self._count_slot[(k, code, "e")], self._count_slot[(k, code, "p")]

                def shifted(shift: int, sel=sel) -> exp.Expression:
                    return sel if shift == 0 else exp.Mul(this=sel, expression=num(2**shift))

                if we == wp:
                    add(we, case((paren(ok), shifted(se)), (is_null(ok), shifted(sp)), default=num(0)))
                else:
                    add(we, case((paren(ok), shifted(se)), default=num(0)))
                    add(wp, case((is_null(ok), shifted(sp)), default=num(0)))
            elif code in self.amounts and code not in self.flat_amounts:
                for part, cond in (("ta", ok), ("ua", is_null(ok))):
                    total = cast(exp.Sum(this=case((cond, amt))), "BIGINT")
                    select = select.select(alias(total, f"r__{code}__{part}"), copy=False)
        for word, total in enumerate(packed):
            select = select.select(alias(cast(self._packed_sum(total), "BIGINT"), f"c{k}_{word}"), copy=False)
        for word, groups in enumerate(self._words[k]):
            bits: exp.Expression | None = None
            for group in groups:
                value = self._flag_term(k, group)
                bits = cast(value, "BIGINT") if bits is None else exp.Add(this=bits, expression=value)
            select = select.select(alias(cast(exp.BitwiseOrAgg(this=bits), "BIGINT"), f"w{k}_{word}"), copy=False)
        return select.from_(exp.to_table(m_name).as_("m"), copy=False).group_by(col("household_id", "m"), copy=False)

    def _packed_sum(self, value: exp.Expression | None) -> exp.Expression:
        """The sum of packed counts. Every field's total is below 2^COUNT_BITS for households
        the guard lets through, so the sum never exceeds 63 bits: DuckDB's `sum_no_overflow`
        keeps a 64-bit state, where `SUM` would keep a 128-bit one (it cannot know)."""
        if self._dialect == "duckdb":
            return exp.Anonymous(this="sum_no_overflow", expressions=[value])
        return exp.Sum(this=value)

    def _count(self, stage: int, code: str, part: str, table: str) -> exp.Expression:
        """A counted programme's number of eligible ("nt") or possibly eligible ("nu") members,
        read from its packed word (the amount adds `count_guard`: unknown for a household too
        large for the fields)."""
        word, shift = self._count_slot[(stage, code, part)]
        return self._field(stage, word, shift, table)

    def _tri_from_counts(self, stage: int, leader: str, table: str) -> exp.Expression:
        """A roll-up read from its packed counts: true if some member is counted eligible, else
        unknown if some possibly, else false (so without members); unknown for a household too
        large for the fields (a count could have wrapped to 0)."""
        code, e, p = self._count_tri[leader]
        size = 1 if e == "nt" else len(self.branched[code]) + 1

        def some(slot: str) -> tuple[exp.Expression, exp.Expression]:
            word, shift = self._count_slot[(stage, code, slot)]
            w = col(f"c{stage}_{word}", table)
            mask = (2 ** (COUNT_BITS * size) - 1) << shift
            return w, exp.NEQ(this=exp.Paren(this=exp.BitwiseAnd(this=w, expression=num(mask))), expression=num(0))

        w, eligible = some(e)
        _, possibly = some(p)
        return exp.Paren(
            this=case(
                (is_null(w), exp.false()),  # a household without members
                (is_null(col("count_guard", "h")), exp.Null()),
                (eligible, exp.true()),
                (possibly, exp.Null()),
                default=exp.false(),
            )
        )

    def _field(self, stage: int, word: int, shift: int, table: str) -> exp.Expression:
        field = exp.BitwiseAnd(
            this=exp.Paren(this=exp.BitwiseRightShift(this=col(f"c{stage}_{word}", table), expression=num(shift))),
            expression=num(2**COUNT_BITS - 1),
        )
        return exp.Paren(this=field)

    def _flag_groups(self, stage: Stage) -> list[tuple[tuple[str, str], ...]]:
        groups: list[tuple[tuple[str, str], ...]] = []
        for info in stage.aggregates:
            kind = info.node.kind
            if kind == "any":  # some member true; some member unknown
                groups.append(((info.name, "v2"), (info.name, "v1")))
            elif kind == "all":  # some member false; some member unknown
                groups.append(((info.name, "v0"), (info.name, "v1")))
            else:  # some member's value or condition unknown
                groups.append(((info.name, "u"),))
        for code in stage.member_programmes:
            if self.same_ok[code] == code and code not in self._count_tri:
                groups.append(((code, "ok"), (code, "okn")))  # some member eligible; some possibly
            if code in self.amounts and code not in self.flat_amounts and code not in self.branched:
                groups.append(((code, "tn"), (code, "un")))  # ... with an unknown amount
        return groups

    def _flag_term(self, stage: int, group: tuple[tuple[str, str], ...]) -> exp.Expression:
        """One member's bits of a group, as a number: for a pair read from a three-valued
        value v, `CASE WHEN v THEN 2^first WHEN v IS NULL THEN 2^second ELSE 0 END` (true →
        first bit, unknown → second, false → none). One CASE per pair costs DuckDB about half
        of the arithmetic `COALESCE(CAST(v AS INT) * 2^first, 2^second)` (measured)."""
        bits = [num(2 ** self._slot[(stage, key)][1]) for key in group]
        name, part = group[0]
        if part == "u":
            return exp.Mul(this=col(f"{name}__in_u", "m"), expression=bits[0])
        if part in ("v2", "v0"):
            value: exp.Expression = col(f"{name}__in_c", "m")
            if part == "v0":
                value = exp.Not(this=paren(value))
        else:
            value = col(ok_col(name), "m")
        whens = [(paren(value), bits[0]), (is_null(value), bits[1])]
        if part == "tn":  # only members whose amount is unknown
            whens.insert(0, (not_null(col(amt_col(name), "m")), num(0)))
        return case(*whens, default=num(0))

    def _tri(self, stage: int, first: tuple[str, str], table: str) -> exp.Expression:
        """A pair's household value: true if the first bit is set, else unknown if the second
        is, else false — `NULLIF(w & 3·2^b, 2^(b+1)) >= 2^b`."""
        word, bit = self._slot[(stage, first)]
        # no word: a household without members, for which no member is eligible (false)
        w = exp.Coalesce(this=col(f"w{stage}_{word}", table), expressions=[num(0)])
        masked = exp.Paren(this=exp.BitwiseAnd(this=w, expression=num(3 * 2**bit)))
        return exp.Paren(
            this=exp.GTE(this=exp.Nullif(this=masked, expression=num(2 ** (bit + 1))), expression=num(2**bit))
        )

    def _flag(self, stage: int, key: tuple[str, str], table: str) -> exp.Expression:
        """True when some member of the household had the flag; NULL for no member at all."""
        word, bit = self._slot[(stage, key)]
        w = col(f"w{stage}_{word}", table)
        return exp.NEQ(this=exp.Paren(this=exp.BitwiseAnd(this=w, expression=num(2**bit))), expression=num(0))

    def _household_pass(self, k: int, stage: Stage, h_prev: str, a_name: str | None) -> exp.Select:
        select = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("h")))
        if a_name is not None:
            for info in stage.aggregates:
                for part in self._agg_parts(info):
                    select = select.select(col(f"{info.name}__{part}", "a"), copy=False)
            for code in stage.member_programmes:
                if code in self.amounts and code not in self.flat_amounts and code not in self.branched:
                    for part in ("ta", "ua"):
                        select = select.select(col(f"r__{code}__{part}", "a"), copy=False)
            for word in range(self._count_words[k]):
                select = select.select(col(f"c{k}_{word}", "a"), copy=False)
            for word in range(len(self._words[k])):
                select = select.select(col(f"w{k}_{word}", "a"), copy=False)
        ctx = Ctx(in_member=False, where="h", stage=k)
        for code in stage.rollups:
            select = select.select(alias(self._rollup_ok(code, ctx), ok_col(code)), copy=False)
            house = self.household_criteria[code]
            if code in self.amounts and house:  # the amount pass reads it
                select = select.select(
                    alias(and_all([self.expr(n, ctx) for n in house]), f"p__{code}__house"), copy=False
                )
        for code in stage.household_programmes:
            prog = self.engine.programmes[code]
            ok = and_all([self.expr(c.node, ctx) for c in prog.criteria])
            select = select.select(alias(ok, ok_col(code)), copy=False)
        select = select.from_(exp.to_table(h_prev).as_("h"), copy=False)
        if a_name is not None:
            select = select.join(
                exp.to_table(a_name).as_("a"),
                on=exp.EQ(this=col("household_id", "a"), expression=col("household_id", "h")),
                join_type="left",
                copy=False,
            )
        return select

    def _amount_pass(self, k: int, rollups: list[str], household: list[str], h_name: str) -> exp.Select:
        """Amounts, one SELECT after the results of stage k (the household programmes computed
        before the member pass: after the last stage): every outcome they read (their own
        programme's, eligible("tekun") in 医疗救助's rate …) is a column by then, not an
        expression repeated in each amount."""
        select = exp.select(exp.Column(this=exp.Star(), table=exp.to_identifier("h")))
        ctx = Ctx(in_member=False, where="v", stage=k)

        def only_if_not_ineligible(code: str, amount: exp.Expression) -> exp.Expression:
            # A CASE evaluates its THEN on the rows it selects: most households are ineligible
            # for most programmes, and their amount is never computed.
            not_false = exp.Not(this=exp.Is(this=col(ok_col(code), "h"), expression=exp.false()))
            return cast(case((not_false, amount)), "BIGINT")

        for code in rollups:
            if code in self.amounts:
                amount = only_if_not_ineligible(code, self._rollup_amount(code, ctx))
                select = select.select(alias(amount, amt_col(code)), copy=False)
        for code in household:
            if code in self.amounts:
                amount = only_if_not_ineligible(code, self._amount(self.engine.programmes[code], ctx))
                select = select.select(alias(amount, amt_col(code)), copy=False)
        return select.from_(exp.to_table(h_name).as_("h"), copy=False)

    @staticmethod
    def _agg_parts(info: AggInfo) -> tuple[str, ...]:
        return {"any": (), "all": (), "count": ("n",), "sum": ("s",)}[info.node.kind]

    def _rollup_parts(self, code: str, ctx: Ctx):
        table = "a" if (ctx.where == "h" and self.member_stage[code] == ctx.stage) else "h"

        stage = self.member_stage[code]

        flat = code in self.flat_amounts
        each = self._amount(self.engine.programmes[code], ctx) if flat else None

        same = self.same_ok[code]

        def part(name: str) -> exp.Expression:
            if name == "v":  # some member eligible → true, else some possibly → unknown, else false
                if same in self._count_tri:
                    return self._tri_from_counts(stage, same, table)
                return self._tri(stage, (same, "ok"), table)
            if flat and name in ("nt", "nu"):  # the same amount for every member: counts
                return self._count(stage, same, name, table)
            if flat and name == "each":
                return paren(each)
            if code in self.branched and name in ("ta", "ua", "tn", "un"):
                return self._branched_part(stage, code, name, table, ctx)
            if name == "ok":
                return self._flag(stage, (same, name), table)
            if name in ("tn", "un"):
                return self._flag(stage, (code, name), table)
            return col(f"r__{code}__{name}", table)

        house = self.household_criteria[code]
        if not house:
            return part, None
        if ctx.where == "v":
            return part, col(f"p__{code}__house", "h")
        return part, and_all([self.expr(n, ctx) for n in house])

    def _rollup_ok(self, code: str, ctx: Ctx) -> exp.Expression:
        part, house = self._rollup_parts(code, ctx)
        any_member = part("v")
        return any_member if house is None else exp.And(this=paren(house), expression=any_member)

    def _rollup_amount(self, code: str, ctx: Ctx) -> exp.Expression:
        """A member programme's household amount, in the amount pass (its outcome is the
        column `ok`). Only read where the programme is not ineligible (the final SELECT drops
        it otherwise), so: the eligible members' amounts when the household is eligible, else
        the possibly eligible members' — and with the household's own criteria unknown, both
        (every member whose own part is not false would count, mᵢ ∧ unknown being unknown)."""
        part, house = self._rollup_parts(code, ctx)
        ok = col(ok_col(code), "h")
        if code in self.flat_amounts:
            # the same amount for every member: how many count, times the amount
            nt, nu = part("nt"), part("nu")
            whens = [(ok, nt)] if house is None else [(ok, nt), (paren(house), nu)]
            n = case(*whens, default=nu if house is None else exp.Add(this=nt, expression=nu))
            each = exp.Add(this=part("each"), expression=col("count_guard", "h"))
            return cast(exp.Mul(this=paren(n), expression=paren(each)), "BIGINT")

        def counted(a: str, n: str) -> exp.Expression:
            return case((part(n), exp.Null()), default=part(a))

        if house is None:
            return cast(case((ok, counted("ta", "tn")), default=counted("ua", "un")), "BIGINT")
        # a sum over no member is NULL; branch counts give 0 (and NULL only when unknown)
        both = (
            (part("ta"), part("ua")) if code in self.branched else (zero_if_null(part("ta")), zero_if_null(part("ua")))
        )
        either = case(
            (exp.Or(this=part("tn"), expression=part("un")), exp.Null()),
            default=exp.Add(this=both[0], expression=both[1]),
        )
        value = case((ok, counted("ta", "tn")), (paren(house), counted("ua", "un")), default=either)
        return cast(value, "BIGINT")

    def _amount(self, prog: CompiledProgramme, ctx: Ctx) -> exp.Expression:
        value = self.expr(prog.amount, ctx)
        if prog.amount.type == "float":
            # Half up to whole fen, as the explained back-end does.
            value = exp.Floor(this=exp.Add(this=paren(value), expression=num(0.5)))
        return cast(value, "BIGINT")

    # ---- facts
    def _household_fact(self, name: str, table: str) -> exp.Expression:
        if self.hcols is not None and name not in self.hcols:
            return cast(exp.Null(), SQL_TYPES[HOUSEHOLD_FACTS[name].type])
        return col(name, table)

    def _member_fact(self, name: str, table: str) -> exp.Expression:
        if self.mcols is not None and name not in self.mcols:
            return cast(exp.Null(), SQL_TYPES[MEMBER_FACTS[name].type])
        return col(name, table)

    def _birth_date(self) -> exp.Expression:
        has_birth = self.mcols is None or "birth_date" in self.mcols
        has_id = self.mcols is not None and "id_number" in self.mcols
        birth = col("birth_date", "mm") if has_birth else cast(exp.Null(), "DATE")
        if not has_id:
            return birth
        ident = col("id_number", "mm")

        def piece(start: int, length: int) -> exp.Expression:
            return exp.Substring(this=ident, start=num(start), length=num(length))

        text = exp.DPipe(
            this=exp.DPipe(
                this=exp.DPipe(
                    this=exp.DPipe(this=piece(7, 4), expression=exp.Literal.string("-")), expression=piece(11, 2)
                ),
                expression=exp.Literal.string("-"),
            ),
            expression=piece(13, 2),
        )
        from_id = exp.TryCast(this=text, to=exp.DataType.build("DATE"))
        return exp.Coalesce(this=birth, expressions=[from_id]) if has_birth else from_id

    def _age(self, birth: exp.Expression) -> exp.Expression:
        # Exact age on the day: a birthday on the evaluation day counts; (month, day) compared
        # as month × 100 + day puts 29 February after 28 February, so leap-day babies come of
        # age on 1 March in common years.
        on_md = self.on.month * 100 + self.on.day
        md = exp.Add(
            this=exp.Mul(this=cast(exp.Month(this=birth), "BIGINT"), expression=num(100)),
            expression=cast(exp.Day(this=birth), "BIGINT"),
        )
        before = case((exp.GT(this=paren(md), expression=num(on_md)), num(1)), default=num(0))
        years = exp.Sub(this=num(self.on.year), expression=cast(exp.Year(this=birth), "BIGINT"))
        return cast(exp.Sub(this=paren(years), expression=paren(before)), "BIGINT")

    @staticmethod
    def _div(a: exp.Expression, b: exp.Expression) -> exp.Expression:
        return exp.Div(
            this=cast(paren(a), "DOUBLE"),
            expression=exp.Nullif(this=cast(paren(b), "DOUBLE"), expression=num(0)),
        )

    # ---- expressions
    def expr(self, node: Node, ctx: Ctx) -> exp.Expression:
        return getattr(self, f"_{type(node).__name__}")(node, ctx)

    def _Const(self, node: Const, ctx: Ctx) -> exp.Expression:
        v = node.value
        if isinstance(v, bool):
            return exp.true() if v else exp.false()
        if isinstance(v, int):
            return cast(num(v), "BIGINT")
        if isinstance(v, float):
            return cast(num(repr(v)), "DOUBLE")
        return exp.Literal.string(v)

    def _FactRef(self, node: FactRef, ctx: Ctx) -> exp.Expression:
        return col(node.name, "m" if node.scope == "member" else "h")

    def _Standard(self, node: Standard, ctx: Ctx) -> exp.Expression:
        return col(f"std__{node.kind}", "h")

    def _Known(self, node: Known, ctx: Ctx) -> exp.Expression:
        return not_null(col(node.name, "m" if node.scope == "member" else "h"))

    def _Eligible(self, node: Eligible, ctx: Ctx) -> exp.Expression:
        return self._eligible(node.code, ctx, per_member=ctx.in_member)

    def _eligible(self, code: str, ctx: Ctx, *, per_member: bool) -> exp.Expression:
        target = self.engine.targets[code]
        if code in self.pre:
            if ctx.where == "p":  # the same SELECT: repeat its criteria
                return paren(and_all([self.expr(c.node, ctx) for c in self.engine.programmes[code].criteria]))
            return col(ok_col(code), "h")
        if target == "member" and per_member:
            criteria = self.engine.programmes[code].criteria
            return paren(and_all([self.expr(c.node, ctx) for c in criteria]))
        if ctx.where == "h" and self.stage_of[code] == ctx.stage:
            if target == "member":
                return self._rollup_ok(code, ctx)
            criteria = self.engine.programmes[code].criteria
            return paren(and_all([self.expr(c.node, ctx) for c in criteria]))
        return col(ok_col(code), "h")

    def _Not(self, node: Not, ctx: Ctx) -> exp.Expression:
        return exp.Not(this=paren(self.expr(node.operand, ctx)))

    def _BoolOp(self, node: BoolOp, ctx: Ctx) -> exp.Expression:
        klass = exp.And if node.op == "and" else exp.Or
        items = [paren(self.expr(i, ctx)) for i in node.items]
        result = items[0]
        for item in items[1:]:
            result = klass(this=result, expression=item)
        return result

    def _Compare(self, node: Compare, ctx: Ctx) -> exp.Expression:
        return _CMP[node.op](this=paren(self.expr(node.left, ctx)), expression=paren(self.expr(node.right, ctx)))

    def _InList(self, node: InList, ctx: Ctx) -> exp.Expression:
        values = [exp.Literal.string(v) if isinstance(v, str) else num(v) for v in node.values]
        test = exp.In(this=paren(self.expr(node.operand, ctx)), expressions=values)
        return exp.Not(this=exp.Paren(this=test)) if node.negate else test

    def _Arith(self, node: Arith, ctx: Ctx) -> exp.Expression:
        left, right = self.expr(node.left, ctx), self.expr(node.right, ctx)
        if node.op == "/":
            return self._div(left, right)
        if node.type == "float":
            left, right = cast(paren(left), "DOUBLE"), cast(paren(right), "DOUBLE")
        return _ARITH[node.op](this=paren(left), expression=paren(right))

    def _Neg(self, node: Neg, ctx: Ctx) -> exp.Expression:
        return exp.Neg(this=paren(self.expr(node.operand, ctx)))

    def _IfElse(self, node: IfElse, ctx: Ctx) -> exp.Expression:
        then, other = self.expr(node.then, ctx), self.expr(node.other, ctx)
        if node.type == "float":
            then, other = cast(paren(then), "DOUBLE"), cast(paren(other), "DOUBLE")
        return simple_case(self.expr(node.cond, ctx), (exp.true(), then), (exp.false(), other))

    def _MinMax(self, node: MinMax, ctx: Ctx) -> exp.Expression:
        items = [self.expr(i, ctx) for i in node.items]
        if node.type == "float":
            items = [cast(paren(i), "DOUBLE") for i in items]
        any_null = items and is_null(items[0])
        for item in items[1:]:
            any_null = exp.Or(this=any_null, expression=is_null(item))
        klass = exp.Least if node.fn == "min" else exp.Greatest
        # Our own guard keeps NULL-propagation; ignore_nulls stops sqlglot adding a second one.
        return case((any_null, exp.Null()), default=klass(this=items[0], expressions=items[1:], ignore_nulls=True))

    def _RoundYuan(self, node: RoundYuan, ctx: Ctx) -> exp.Expression:
        x = cast(paren(self.expr(node.operand, ctx)), "DOUBLE")
        shifted = exp.Div(this=paren(exp.Add(this=x, expression=num(50))), expression=cast(num(100), "DOUBLE"))
        return exp.Mul(this=cast(exp.Floor(this=shifted), "BIGINT"), expression=num(100))

    def _Aggregate(self, node: Aggregate, ctx: Ctx) -> exp.Expression:
        if self._is_rollup_any(node):
            return self._eligible(node.expr.code, ctx, per_member=False)  # type: ignore[attr-defined]
        info = self.aggs[id(node)]
        table = "a" if (ctx.where == "h" and info.stage == ctx.stage) else "h"

        def part(name: str) -> exp.Expression:
            return col(f"{info.name}__{name}", table)

        def flag(name: str) -> exp.Expression:
            return self._flag(info.stage, (info.name, name), table)

        if node.kind == "any":
            return case((flag("v2"), exp.true()), (flag("v1"), exp.Null()), default=exp.false())
        if node.kind == "all":
            return case((flag("v0"), exp.false()), (flag("v1"), exp.Null()), default=exp.true())
        unknown = flag("u")
        value = part("n") if node.kind == "count" else part("s")
        zero = num(0) if node.type != "float" else cast(num(0), "DOUBLE")
        return case((unknown, exp.Null()), default=exp.Coalesce(this=value, expressions=[zero]))
