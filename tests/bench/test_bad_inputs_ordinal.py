"""Bad Paper I input through ``bench run ordinal --data-root``: the malformed UTKFace cases,
a BIWI npz without ``pose`` or with a pickled array, an image of the wrong size, an empty
decade folder: one error line naming the file, exit 2, nothing written, nothing executed."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import invoke, refused
from PIL import Image

from perloc.bench.run import cells
from tests.datasets.test_biwi import biwi  # noqa: F401  (fixture)
from tests.datasets.test_hci import hci  # noqa: F401  (fixture)
from tests.datasets.test_utkface import utk  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch):
    monkeypatch.setattr(cells, "_DATASETS", {})


def _run(dataset: str, root) -> tuple[str, ...]:
    return ("run", "ordinal", "--profile", "paper", "-w", f"dataset={dataset}", "-m", "rvc",
            "--data-root", str(root))


def _csv_line(root, split: str, line: str) -> tuple:
    path = root / "age" / "data" / f"utk_{split}.csv"
    path.write_text(path.read_text() + line + "\n")
    return path


UTK_DAMAGE = {
    "missing file": lambda r: (_csv_line(r, "train", "11,33_0_0_20170116171048699.jpg.chip.jpg,"
                                                     "12"), "33_0_0_20170116171048699"),
    "age outside 21-60": lambda r: (_csv_line(r, "test", "12,65_0_0_2017011617104869.jpg.chip."
                                                         "jpg,44"), "21"),
    "bad header": lambda r: (_rewrite_header(r), "header"),
    "wrong image size": lambda r: (_small_image(r), "200"),
}


def _rewrite_header(root):
    path = root / "age" / "data" / "utk_train.csv"
    path.write_text(path.read_text().replace(",file,age", "file;age", 1))
    return path


def _small_image(root):
    path = root / "UTKFace" / "26_1_0_20170116171048641.jpg.chip.jpg"
    Image.new("RGB", (64, 64), (10, 10, 10)).save(path, "JPEG")
    return path


@pytest.mark.parametrize("case", list(UTK_DAMAGE))
def test_bad_utkface_is_one_line_exit_2_nothing_written(capsys, workspace, utk, case):  # noqa: F811
    path, needle = UTK_DAMAGE[case](utk)
    result = refused(capsys, workspace, *_run("utkface", utk))
    assert path.name in result.err and needle in result.err


def test_biwi_without_pose_is_refused(capsys, workspace, biwi):  # noqa: F811
    path = biwi / "BIWI_test.npz"
    np.savez(path, image=np.zeros((2, 64, 64, 3), np.uint8))
    result = refused(capsys, workspace, *_run("biwi", biwi))
    assert path.name in result.err and "pose" in result.err


def test_biwi_with_a_pickled_array_is_refused_unexecuted(capsys, workspace, biwi):  # noqa: F811
    path = biwi / "BIWI_train.npz"
    np.savez(path, image=np.zeros((1, 64, 64, 3), np.uint8),
             pose=np.array([_Pwn(biwi / "pwned")], dtype=object))
    result = refused(capsys, workspace, *_run("biwi", biwi))
    assert path.name in result.err
    assert not (biwi / "pwned").exists()


class _Pwn:
    """Unpickling this runs ``touch TARGET``."""

    def __init__(self, target) -> None:
        self.target = target

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.target}",)


def test_an_empty_decade_folder_is_refused(capsys, workspace, hci):  # noqa: F811
    folder = hci / "decade_database" / "1940s"
    for path in folder.iterdir():
        path.unlink()
    result = refused(capsys, workspace, *_run("hci", hci))
    assert "1940s" in result.err


@pytest.mark.parametrize(("args", "needle"), [
    (("-w", "dataset=imdb-wiki"), "dataset"),
    (("-m", "coral"), "coral"),
    (("-p", "backbone=vgg16"), "backbone"),
])
def test_unknown_datasets_methods_and_backbones_are_refused(capsys, workspace, args, needle):
    result = refused(capsys, workspace, "run", "ordinal", "--profile", "smoke", *args)
    assert needle in result.err


def test_the_paper_profile_needs_real_data(capsys, workspace):
    result = invoke(capsys, "run", "ordinal", "--profile", "paper", "-w", "dataset=hci")
    assert result.code == 2 and "--data-root" in result.err
