"""What the package's tests share: the repository's fixtures, a small photo library, and
the command line's own answers to compare with (``target/release/genderlens``, built by
``cargo test --release`` before these run; ``GENDERLENS_CLI`` points elsewhere)."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PORTRAITS = {"collins.jpg": "female", "einstein.jpg": "male", "planck.jpg": "male"}


def cli() -> Path:
    path = Path(os.environ.get("GENDERLENS_CLI", ROOT / "target" / "release" / "genderlens"))
    if not path.exists():
        pytest.fail(f"{path} is not built (cargo build --release -p genderlens-trainer)")
    return path


@pytest.fixture(scope="session")
def library(tmp_path_factory) -> Path:
    """60 photos in two albums (the portraits again and again, the Solvay photo) and one
    corrupt file among them."""
    root = tmp_path_factory.mktemp("library")
    for album in ("album-a", "album-b"):
        (root / album).mkdir()
    for i in range(58):
        name = list(PORTRAITS)[i % 3]
        shutil.copy(FIXTURES / "faces" / name, root / ("album-a" if i % 2 else "album-b") / f"{i:03d}-{name}")
    shutil.copy(FIXTURES / "solvay-1927.jpg", root / "album-a" / "solvay.jpg")
    # Starts like a JPEG (so a folder walk takes it), then stops.
    (root / "album-b" / "broken.jpg").write_bytes((FIXTURES / "solvay-1927.jpg").read_bytes()[:3000])
    return root


@pytest.fixture(scope="session")
def cli_results(library) -> dict:
    """``genderlens predict LIBRARY --jsonl``: each file's line, by path."""
    out = subprocess.run([str(cli()), "predict", str(library), "--jsonl"], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return {line["file"]: line for line in lines}


def assert_same_line(ours: dict, theirs: dict) -> None:
    """The same image line, numbers to float precision (the command line runs its kernels
    on several threads; sums may differ in the last bits)."""
    assert ours["file"] == theirs["file"]
    assert (ours["width"], ours["height"], ours["error"]) == (theirs["width"], theirs["height"], theirs["error"])
    assert len(ours["faces"]) == len(theirs["faces"]), ours["file"]
    for a, b in zip(ours["faces"], theirs["faces"]):
        assert (a["label"], a["likely"]) == (b["label"], b["likely"])
        assert a["box"] == pytest.approx(b["box"], abs=1e-2)
        assert a["p_male"] == pytest.approx(b["p_male"], abs=1e-4)
        flat = lambda points: [v for point in points for v in point]  # noqa: E731
        assert flat(a["landmarks"]) == pytest.approx(flat(b["landmarks"]), abs=1e-2)
