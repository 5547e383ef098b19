"""The siamese-text command line: thin Typer commands that parse, call the library, print.

Commands are grouped by audience: inference.py (score, embed, info), dedup.py (dedup, index,
search), evaluation.py (evaluate), training.py (train, distill); common.py holds what they share.
training.py imports torch (its option defaults are the training configs'), so it is loaded only
when `train` or `distill` is named, or `--help` lists them: `score` never waits for torch, and
without torch those two commands end with one line naming the extra that brings it.
"""

from __future__ import annotations

import typer
from typer.core import TyperGroup

from siamese_text.cli import dedup, evaluation, inference
from siamese_text.cli.common import fail
from siamese_text.extras import MissingExtra

ORDER = ("score", "embed", "info", "train", "evaluate", "dedup", "index", "search", "distill")  # as --help lists
TRAINING = ("train", "distill")


class _Commands(TyperGroup):
    """The commands, the training ones loaded on first use."""

    def list_commands(self, ctx) -> list[str]:
        return list(ORDER)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in TRAINING and cmd_name not in self.commands:
            self.commands.update(typer.main.get_command(_training()).commands)
        return super().get_command(ctx, cmd_name)


def _training() -> typer.Typer:
    """train and distill, or, without their extra, two commands that say which pip install brings it."""
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    try:
        from siamese_text.cli import training
    except MissingExtra as exc:  # training needs torch: pip install ...
        message = str(exc)

        def missing(ctx: typer.Context) -> None:
            raise fail(message)

        for name in TRAINING:
            sub.command(name, help=message, add_help_option=False,
                        context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(missing)
        return sub
    for command in (training.train, training.distill):
        sub.command()(command)
    return sub


app = typer.Typer(
    name="siamese-text",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Decide whether two texts mean the same thing (a Siamese BiLSTM).",
)
for _command in (inference.score, inference.embed, inference.info, evaluation.evaluate, dedup.dedup, dedup.index,
                 dedup.search):
    app.command()(_command)

__all__ = ["app"]
