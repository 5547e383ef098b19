"""The siamese-text command line: thin Typer commands that parse, call the library, print.

Commands are grouped by audience: inference.py (score, embed, info), dedup.py (dedup, index,
search), evaluation.py (evaluate), training.py (train, distill); common.py holds what they share.
Each module is imported only when one of its commands is named (or `--help` lists them all):
`score` never waits for dedup's, evaluation's or training's imports, and without torch `train`
and `distill` end with one line naming the extra that brings it.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer
from typer.core import TyperGroup

from siamese_text.cli.common import DEBUG, fail, user_errors
from siamese_text.extras import MissingExtra

# command -> the module of cli/ that holds it; a module is imported when one of its commands is
# named (or `--help` lists them all), so `score` imports neither dedup, evaluation nor torch.
COMMANDS = {"score": "inference", "embed": "inference", "info": "inference", "train": "training",
            "evaluate": "evaluation", "dedup": "dedup", "index": "dedup", "search": "dedup",
            "distill": "training"}  # in the order --help lists them


def _main(
    debug: Annotated[bool, typer.Option("--debug", help="On an internal error (a bug, exit code 2), show its "
                                        "traceback instead of one line (also SIAMESE_TEXT_DEBUG=1).")] = False,
) -> None:
    """Decide whether two texts mean the same thing (a Siamese BiLSTM)."""


def _group() -> None:
    """The commands of one cli module."""


class _Commands(TyperGroup):
    """The commands, each module loaded on first use."""

    def list_commands(self, ctx) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            self.commands.update(typer.main.get_command(_load(COMMANDS[cmd_name], cmd_name)).commands)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx):
        # the edge: what escapes a command's own user_errors (or loading it) is still one line;
        # --debug (parsed by now) holds for this invocation only
        token = DEBUG.set(bool(ctx.params.get("debug")))
        try:
            with user_errors():
                return super().invoke(ctx)
        finally:
            DEBUG.reset(token)


def _load(module_name: str, name: str) -> typer.Typer:
    """Command `name` of one cli module, or, without its extra, a command that says which pip
    install brings it. Only the command named is built (Typer reads every option's annotation)."""
    sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    sub.callback()(_group)  # a group even when the module holds one command
    try:
        module = importlib.import_module(f"siamese_text.cli.{module_name}")
    except MissingExtra as exc:  # e.g. training needs torch: pip install ...
        message = str(exc)

        def missing(ctx: typer.Context) -> None:
            raise fail(message)

        sub.command(name, help=message, add_help_option=False,
                    context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(missing)
        return sub
    sub.command()(getattr(module, name))
    return sub


app = typer.Typer(
    name="siamese-text",
    cls=_Commands,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Decide whether two texts mean the same thing (a Siamese BiLSTM).",
)


app.callback()(_main)


__all__ = ["app"]
