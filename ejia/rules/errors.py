"""The one error a rule can raise: a Chinese message naming where and what went wrong."""

from __future__ import annotations


class RuleError(ValueError):
    """A rule that cannot be saved or run.

    `message` is the Chinese text shown to the clerk, with the position when there is one
    (“第1行第5列：…”); `programme` and `criterion` say which rule it came from.
    """

    def __init__(
        self,
        problem: str,
        *,
        line: int | None = None,
        col: int | None = None,
        programme: str | None = None,
        criterion: str | None = None,
    ) -> None:
        self.problem = problem
        self.line = line
        self.col = col
        self.programme = programme
        self.criterion = criterion
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if self.line is not None and self.col is not None:
            return f"第{self.line}行第{self.col}列：{self.problem}"
        return self.problem

    def where(self, *, programme: str | None = None, criterion: str | None = None) -> RuleError:
        """The same error, told which programme and criterion it belongs to."""
        return RuleError(
            self.problem,
            line=self.line,
            col=self.col,
            programme=programme if programme is not None else self.programme,
            criterion=criterion if criterion is not None else self.criterion,
        )

    def __str__(self) -> str:
        context = []
        if self.programme:
            context.append(f"项目“{self.programme}”")
        if self.criterion:
            context.append(f"“{self.criterion}”")
        prefix = "·".join(context)
        return f"{prefix}：{self.message}" if prefix else self.message
