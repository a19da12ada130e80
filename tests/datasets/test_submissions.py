"""Server archives: each server-scored dataset's ``submission.zip``, read back member by member."""

import io
import zipfile
from pathlib import Path
from typing import Dict, Set, Tuple

import numpy as np
import pytest
from hydra.utils import instantiate
from PIL import Image

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.datasets.base import VOSDataset
from stcnbuf.datasets.davis import DavisDataset
from stcnbuf.datasets.lvos import LVOSDataset
from stcnbuf.datasets.submission import write_submission
from stcnbuf.datasets.youtubevos import YouTubeVOSDataset
from stcnbuf.io.masks import DAVIS_PALETTE, read_label_png, write_label_png
from tests.conftest import compose, moving_squares
from tests.datasets.test_lvos import write_lvos

FRAMES, LABELS = moving_squares(num_frames=6, height=64, width=80)
VIDEOS = ("a", "b")


def write_video(images: Path, annotations: Path, stems, masks: Dict[int, np.ndarray]) -> None:
    """The frames named ``stems`` as JPEGs, and ``masks`` (frame position -> label map) as palette PNGs."""
    images.mkdir(parents=True)
    annotations.mkdir(parents=True)
    for frame, stem in zip(FRAMES, stems):
        Image.fromarray(frame).save(images / f"{stem}.jpg")
    for index, labels in masks.items():
        write_label_png(annotations / f"{stems[index]}.png", labels)


def only(labels: np.ndarray, object_id: int) -> np.ndarray:
    return np.where(labels == object_id, labels, 0).astype(np.uint8)


def davis_set(root: Path, split: str) -> Path:
    """DAVIS 2017 layout, the first frame of each video annotated (as test-dev and test-challenge are)."""
    for video in VIDEOS:
        write_video(root / "JPEGImages/480p" / video, root / "Annotations/480p" / video,
                    [f"{i:05d}" for i in range(len(FRAMES))], {0: LABELS[0]})
    (root / "ImageSets/2017").mkdir(parents=True)
    (root / "ImageSets/2017" / f"{split}.txt").write_text("\n".join(VIDEOS) + "\n")
    return root


def youtube_set(root: Path, step: int, split: str = "valid") -> Path:
    """YouTube-VOS layout (``step`` 5: its every-5th-frame lists; 1: MOSE's every frame); video b's only object
    enters on its third listed frame."""
    stems = [f"{step * i:05d}" for i in range(len(FRAMES))]
    write_video(root / split / "JPEGImages/a", root / split / "Annotations/a", stems, {0: LABELS[0]})
    write_video(root / split / "JPEGImages/b", root / split / "Annotations/b", stems, {2: only(LABELS[2], 1)})
    return root


def lvos_set(root: Path, ground_truth: bool = False) -> Path:
    """LVOS layout: video a with objects 1 and 2 from frame 1, video b with object 2 from frame 3 and object 1 from
    frame 4; each object's first mask only (test), or with ``ground_truth`` also a later mask (valid)."""
    sources = root.parent / "lvos_frames"
    sources.mkdir(parents=True)
    for i, frame in enumerate(FRAMES):
        Image.fromarray(frame).save(sources / f"{i}.jpg")
    frames = [sources / f"{i}.jpg" for i in range(len(FRAMES))]
    masks_a = {1: LABELS[0], **({6: LABELS[5]} if ground_truth else {})}
    return write_lvos(root, {"a": (frames, masks_a, {1: (1, 6, 2), 2: (1, 6, 2)}),
                             "b": (frames, {3: only(LABELS[2], 2), 4: only(LABELS[3], 1)},
                                   {2: (3, 6, 1), 1: (4, 6, 1)})})


def every_frame(member: str, videos: Dict[str, range], digits: int = 5) -> Set[str]:
    """The archive members ``member`` names for the frame numbers of each video."""
    return {member.format(sequence=video, frame=f"{i:0{digits}d}") for video, numbers in videos.items()
            for i in numbers}


#: set -> (its reader, the members its server takes: each output frame from the video's first annotation on)
SERVER_SETS = {
    "davis2017 test-dev": lambda root: (DavisDataset(davis_set(root, "test-dev"), split="test-dev"),
                                        every_frame("{sequence}/{frame}.png", {v: range(6) for v in VIDEOS})),
    "davis2017 test-challenge": lambda root: (
        DavisDataset(davis_set(root, "test-challenge"), split="test-challenge"),
        every_frame("{sequence}/{frame}.png", {v: range(6) for v in VIDEOS})),
    "lvos test": lambda root: (LVOSDataset(lvos_set(root / "test")),
                               every_frame("Annotations/{sequence}/{frame}.png", {"a": range(1, 7), "b": range(3, 7)},
                                           digits=8)),
    "mose valid": lambda root: (instantiate(compose("eval", ["data=mose", f"data.root={youtube_set(root, 1)}"]).data),
                                every_frame("{sequence}/{frame}.png", {"a": range(6), "b": range(2, 6)})),
    "youtubevos2019 valid": lambda root: (YouTubeVOSDataset(youtube_set(root, 5)),
                                          every_frame("Annotations/{sequence}/{frame}.png",
                                                      {"a": range(0, 30, 5), "b": range(10, 30, 5)})),
}


def predict(predictions: Path, dataset: VOSDataset) -> Dict[Tuple[str, str], np.ndarray]:
    """Random label maps for every output frame from each sequence's first annotation on (as a run without the
    backward pass writes them), by (sequence, frame stem)."""
    rng = np.random.default_rng(0)
    written = {}
    for name in dataset.names:
        sequence = dataset.sequence(name)
        for index in sequence.outputs:
            if index >= min(sequence.mask_paths):
                labels = rng.integers(0, 4, sequence.size, dtype=np.uint8)
                write_label_png(predictions / name / f"{sequence.frame_name(index)}.png", labels)
                written[name, sequence.frame_name(index)] = labels
    return written


def read_archive(path: Path) -> Dict[str, np.ndarray]:
    """Every member of a zip as its decoded label map, each checked to be a DAVIS-palette PNG."""
    members = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            with Image.open(io.BytesIO(archive.read(member))) as image:
                assert image.format == "PNG" and image.mode == "P", member
                assert bytes(image.getpalette()) == DAVIS_PALETTE, member
                members[member] = np.array(image)
    return members


@pytest.mark.parametrize("which", SERVER_SETS)
def test_the_archive_holds_each_prediction_in_its_servers_layout(tmp_path, which):
    dataset, members = SERVER_SETS[which](tmp_path / "data")
    written = predict(tmp_path / "predictions", dataset)
    write_label_png(tmp_path / "predictions" / "stray" / "00000.png", LABELS[0])  # not in the set: left out
    out = write_submission(tmp_path / "predictions", dataset, tmp_path / "submission.zip")
    archive = read_archive(out)
    assert set(archive) == members
    layout = "{sequence}/{frame}.png" if dataset.submission == "sequences" else "Annotations/{sequence}/{frame}.png"
    for (name, stem), labels in written.items():
        np.testing.assert_array_equal(archive[layout.format(sequence=name, frame=stem)], labels)


def test_a_missing_prediction_is_refused_with_its_file_and_nothing_is_written(tmp_path, monkeypatch):
    dataset, _ = SERVER_SETS["davis2017 test-dev"](tmp_path / "data")
    predict(tmp_path / "predictions", dataset)
    missing = tmp_path / "predictions" / "b" / "00003.png"
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=rf"prediction missing: {missing} .*segment the sequence again"):
        write_submission(tmp_path / "predictions", dataset, tmp_path / "submission.zip")
    write_label_png(missing, LABELS[3])

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(zipfile.ZipFile, "write", fail)
    with pytest.raises(OSError, match="disk full"):
        write_submission(tmp_path / "predictions", dataset, tmp_path / "submission.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "predictions"]  # no archive, no temporary file


def test_sets_scored_here_name_no_archive(tmp_path):
    assert DavisDataset(davis_set(tmp_path / "davis", "val"), split="val").submission is None
    full = davis_set(tmp_path / "full", "test-dev")
    for kind in ("JPEGImages", "Annotations"):
        (full / kind / "Full-Resolution").symlink_to(full / kind / "480p")
    assert DavisDataset(full, split="test-dev", resolution="Full-Resolution").submission is None  # server: 480p
    valid = LVOSDataset(lvos_set(tmp_path / "lvos" / "valid", ground_truth=True))
    assert valid.scorable and valid.submission is None
    test = LVOSDataset(lvos_set(tmp_path / "lvos2" / "test"))  # several first masks in a video are no ground truth
    assert not test.scorable and test.submission == "annotations"
    dense = YouTubeVOSDataset(youtube_set(tmp_path / "yt", 5), dense=True)
    assert dense.submission is None
    with pytest.raises(ValueError, match="youtubevos2019 is scored here"):
        write_submission(tmp_path / "predictions", dense, tmp_path / "submission.zip")
    with pytest.raises(ValueError, match=r"unknown submission layout 'zip'; choose one of annotations, sequences"):
        YouTubeVOSDataset(tmp_path / "yt", submission="zip")


@pytest.mark.parametrize("which,overrides", [
    ("davis2017 test-dev", ["experiment=reproduce_davis17testdev_s012"]),
    ("lvos test", ["data=lvos", "data.shorter_side=null"]),
])
def test_eval_writes_the_archive_of_a_server_scored_set(tmp_path, tiny_checkpoint, which, overrides):
    dataset, members = SERVER_SETS[which](tmp_path / "data")
    out = tmp_path / "out"
    metrics = evaluate(compose("eval", [*overrides, f"data.root={dataset.root}", f"model.checkpoint={tiny_checkpoint}",
                                        f"output_dir={out}", "logger=none", "device=cpu"]))
    assert metrics["complete"] and metrics["J&F-Mean"] is None and metrics["submission"] == str(out / "submission.zip")
    archive = read_archive(out / "submission.zip")
    assert set(archive) >= members  # and, where the run segments backwards too, the frames before them
    assert len(archive) == len(list((out / "predictions").rglob("*.png")))
    for member, labels in archive.items():
        name, stem = Path(member).parent.name, Path(member).stem
        np.testing.assert_array_equal(labels, read_label_png(out / "predictions" / name / f"{stem}.png"))
