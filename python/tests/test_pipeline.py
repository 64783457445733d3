"""The package on its own: the command line's answers, from bytes, paths and arrays; its
errors; the GIL released while it works."""

import threading

import numpy as np
import pytest
from PIL import Image

import genderlens
from conftest import FIXTURES, PORTRAITS, assert_same_line


def test_every_file_gives_the_command_lines_line(library, cli_results):
    pipeline = genderlens.Pipeline()
    files = sorted(str(p) for p in library.rglob("*.jpg"))
    rows = pipeline.analyze_paths(files)
    assert [r["file"] for r in rows] == files
    for row in rows:
        assert_same_line(row, cli_results[row["file"]])
    broken = next(r for r in rows if r["file"].endswith("broken.jpg"))
    assert broken["error"].startswith("cannot decode image") or "truncated" in broken["error"], broken
    solvay = next(r for r in rows if r["file"].endswith("solvay.jpg"))
    assert len(solvay["faces"]) == 29


def test_bytes_and_arrays_give_the_same_faces():
    pipeline = genderlens.Pipeline()
    for name, sex in PORTRAITS.items():
        path = FIXTURES / "faces" / name
        from_bytes = pipeline.analyze_bytes(path.read_bytes())
        from_path = pipeline.analyze_path(path)
        assert from_bytes["faces"] == from_path["faces"]
        assert from_bytes["faces"][0]["likely"] == sex
        array = np.asarray(Image.open(path).convert("RGB"))
        from_array = pipeline.analyze_array(array)
        assert (from_array["width"], from_array["height"]) == (200, 200)
        # Decoded by Pillow here and by the image crate there: the same JPEG, pixels a step
        # apart at most, the same face.
        assert from_array["faces"][0]["likely"] == sex
        assert from_array["faces"][0]["box"] == pytest.approx(from_bytes["faces"][0]["box"], abs=2)
    # A view that is not contiguous is copied, not refused.
    wide = np.asarray(Image.open(FIXTURES / "solvay-1927.jpg").convert("RGB"))
    assert len(pipeline.analyze_array(wide[:, ::1][:, :, :])["faces"]) == 29
    assert len(pipeline.analyze_array(np.asfortranarray(wide))["faces"]) == 29


def test_options_filter_the_faces_as_the_command_line_does():
    solvay = (FIXTURES / "solvay-1927.jpg").read_bytes()
    assert len(genderlens.Pipeline(max_faces=5).analyze_bytes(solvay)["faces"]) == 5
    sure = genderlens.Pipeline(min_confidence=0.97).analyze_bytes(solvay)["faces"]
    assert 0 < len(sure) < 29 and all(f["confidence"] >= 0.97 for f in sure)
    with pytest.raises(ValueError, match="min_confidence"):
        genderlens.Pipeline(min_confidence=0.2)


@pytest.mark.parametrize("data, code", [
    (b"", "not-an-image"),
    (b"just some text", "not-an-image"),
    ((FIXTURES / "solvay-1927.jpg").read_bytes()[:3000], "truncated"),
    # A PNG header that claims 30 000 × 30 000 px: refused before decoding.
    (bytes.fromhex("89504e470d0a1a0a0000000d49484452") + (30000).to_bytes(4, "big") * 2 + bytes(5), "too-large"),
])
def test_bad_images_raise_with_a_code_and_the_command_lines_message(data, code):
    pipeline = genderlens.Pipeline()
    with pytest.raises(genderlens.GenderLensError) as error:
        pipeline.analyze_bytes(data)
    assert error.value.code == code
    assert len(str(error.value)) > 10
    # The pipeline goes on.
    assert len(pipeline.analyze_path(FIXTURES / "faces" / "planck.jpg")["faces"]) == 1


def test_arrays_of_another_shape_and_missing_files_are_clear_errors(tmp_path):
    pipeline = genderlens.Pipeline()
    with pytest.raises(genderlens.GenderLensError, match="H × W × 3") as error:
        pipeline.analyze_array(np.zeros((10, 10, 4), dtype=np.uint8))
    assert error.value.code == "unsupported-source"
    with pytest.raises(TypeError):
        pipeline.analyze_array(np.zeros((10, 10, 3), dtype=np.float32))
    missing = tmp_path / "nowhere.jpg"
    with pytest.raises(genderlens.GenderLensError, match="cannot read file") as error:
        pipeline.analyze_path(missing)
    assert error.value.code == "unreadable"
    assert pipeline.analyze_path(missing, errors="row")["error"].startswith("cannot read file")


def test_the_gil_is_released_while_it_works():
    """Another Python thread runs while an analysis is under way: with the GIL held it could
    run only between calls."""
    pipeline = genderlens.Pipeline(small_faces=True)
    photo = (FIXTURES / "solvay-1927.jpg").read_bytes()
    big = Image.open(FIXTURES / "solvay-1927.jpg").convert("RGB").resize((3072, 2094))
    array = np.asarray(big)
    worker = threading.Thread(target=lambda: [pipeline.analyze_array(array), pipeline.analyze_bytes(photo)])
    steps = 0
    worker.start()
    while worker.is_alive():
        steps += 1
    worker.join()
    assert steps > 100_000, f"only {steps} steps of the other thread while it worked"


def test_one_pipeline_is_safe_to_share_between_threads():
    pipeline = genderlens.Pipeline()
    photos = [(FIXTURES / "faces" / name).read_bytes() for name in PORTRAITS]
    expected = [pipeline.analyze_bytes(p)["faces"] for p in photos]
    results = {}

    def work(k):
        results[k] = [pipeline.analyze_bytes(photos[(k + i) % 3])["faces"] for i in range(6)]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, faces in results.items():
        assert faces == [expected[(k + i) % 3] for i in range(6)]


def test_the_version_is_the_crates():
    assert genderlens.__version__.count(".") == 2


def test_a_pipeline_crosses_to_another_process_as_its_options():
    import pickle

    pipeline = genderlens.Pipeline(max_faces=3)
    copy = pickle.loads(pickle.dumps(pipeline))
    assert len(copy.analyze_path(FIXTURES / "solvay-1927.jpg")["faces"]) == 3
