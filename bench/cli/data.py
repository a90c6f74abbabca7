"""``bench data``: write stand-in datasets in their real layouts, and check real datasets."""

from __future__ import annotations

from pathlib import Path

import click
from tabulate import tabulate

from perloc.bench.cli.console import progress_bars as _progress
from perloc.bench.core.errors import UserError
from perloc.bench.store.workspace import Workspace

STAND_INS = ("librispeech-tts", "luvira-sim", "speech-commands-tts")
CHECKS = ("librispeech", "luvira", "speech-commands")


@click.group("data")
def data_group() -> None:
    """Generate stand-in datasets and check real ones."""


@data_group.command("synth")
@click.argument("name", type=click.Choice(STAND_INS))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder to write.")
@click.option("--size", default="default", show_default=True, help="smoke | default (| paper)")
@click.option("--seed", default=0, show_default=True, type=int)
def synth_cmd(name: str, out: Path, size: str, seed: int) -> None:
    """Write a stand-in dataset in its real dataset's on-disk layout."""
    from perloc.datasets.synth import librispeech_tts, luvira_sim, speech_commands_tts

    module = {"librispeech-tts": librispeech_tts, "luvira-sim": luvira_sim,
              "speech-commands-tts": speech_commands_tts}[name]
    if size not in module.SIZES:
        raise UserError(f"--size: unknown size {size!r} (known: {', '.join(module.SIZES)})")
    if name == "librispeech-tts":
        root = librispeech_tts.write_corpus(out, size, seed=seed, progress=_progress())
    elif name == "speech-commands-tts":
        root = speech_commands_tts.write_commands(out, size, seed=seed)
    else:
        root = _write_luvira_sim(out, size, seed)
    click.echo(str(root))


def _write_luvira_sim(out: Path, size: str, seed: int) -> Path:
    from perloc.datasets.librispeech import LibriSpeech
    from perloc.datasets.sim.rir_bank import RirBank
    from perloc.datasets.synth.librispeech_tts import SIZES, write_corpus
    from perloc.datasets.synth.luvira_sim import write_luvira_sim

    cache = Workspace.from_env().cache
    corpus_size = size if size in SIZES else "default"
    speech = LibriSpeech(write_corpus(cache / "data" / f"librispeech-tts-{corpus_size}",
                                      corpus_size, progress=_progress()))
    bank = RirBank(cache / "caches" / "rir-bank-luvira-v1.h5")
    return write_luvira_sim(out, size, speech, bank, seed=seed, progress=_progress())


@data_group.command("check")
@click.argument("name", type=click.Choice(CHECKS))
@click.option("--root", type=click.Path(path_type=Path), required=True)
def check_cmd(name: str, root: Path) -> None:
    """Read every file of a dataset and report what the splits hold."""
    if name == "luvira":
        _check_luvira(root)
        return
    if name == "speech-commands":
        _check_speech_commands(root)
        return
    from perloc.datasets.librispeech import LibriSpeech

    corpus = LibriSpeech(root)
    rows = []
    for split, utterances in corpus.splits().items():
        seconds = sum(len(corpus.load(u)) for u in utterances) / 16_000
        speakers = len({u.speaker for u in utterances})
        rows.append([split, speakers, len(utterances), f"{seconds / 60:.1f}"])
    click.echo(f"{corpus.folder}: {corpus.provenance.kind}, version {corpus.version}")
    click.echo(tabulate(rows, headers=["split", "speakers", "utterances", "minutes"]))


def _check_luvira(root: Path) -> None:
    from perloc.datasets.luvira import TRAJECTORIES, Luvira

    data = Luvira(root)
    rows = []
    for name in TRAJECTORIES:
        frames = data.frames(name)
        rec = data.recording(name)
        split = "test" if name in data.splits()["test"] else "train"
        rows.append([name, split, f"{rec.mics.shape[1] / 16_000:.1f}", len(frames)])
    click.echo(f"{data.root}: {data.provenance.kind}, version {data.version}")
    click.echo(tabulate(rows, headers=["trajectory", "split", "seconds", "non-silent frames"]))


def _check_speech_commands(root: Path) -> None:
    from perloc.datasets.speech_commands import SpeechCommands

    data = SpeechCommands(root)
    rows = []
    for split in ("training", "validation", "testing"):
        entries = data.entries(split)
        for entry in entries:
            data.load(entry)
        speakers = {e.path.name.split("_")[0] for e in entries if e.path is not None}
        labels = [e.label for e in entries]
        rows.append([split, len(speakers), len(entries), labels.count("_silence_"),
                     labels.count("_unknown_")])
    noises = data.background
    click.echo(f"{data.root}: {data.provenance.kind}, version {data.version}, "
               f"{len(data.words)} words, {len(noises)} background recordings")
    click.echo(tabulate(rows, headers=["split (12 classes)", "speakers", "clips", "silence",
                                       "unknown"]))
