"""Run the ``bench`` entry point in-process and capture what a user would see."""

from __future__ import annotations

from dataclasses import dataclass

from perloc.bench.cli import main


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def invoke(capsys, *argv: str) -> Outcome:
    capsys.readouterr()
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)
