import json

import numpy as np
import pytest
from PIL import Image

from stcnbuf.datasets.davis import DavisDataset, read_split_file
from stcnbuf.datasets.folder import FolderDataset
from stcnbuf.datasets.youtubevos import YouTubeVOSDataset
from stcnbuf.io.masks import write_label_png
from tests.conftest import link_sequence, require_shared


def youtube_fixture(root, shared, late_copy=False):
    """A YouTube-VOS-layout set from real frames: PUMaVOS caps (object 2 appears at frame 33, 480×853) and the judo
    clip (a new object on frames 0, 5, 8 and 13); with ``late_copy`` also "late", a judo copy whose first mask is
    on frame 5. Required outputs: every 5th frame plus annotated frames."""
    caps, judo = shared / "pumavos" / "caps", shared / "judo-late-objects"
    videos = [("caps", caps, {0: [1], 33: [2]}), ("judo", judo, {0: [1], 5: [2], 8: [3], 13: [4]})]
    if late_copy:
        videos.append(("late", judo, {5: [2], 13: [4]}))
    meta = {"videos": {}}
    for vid, src, new_at in videos:
        frames = sorted((src / "JPEGImages").glob("*.jpg"))
        renamed = [f"{i:05d}" for i in range(len(frames))]
        all_dir = root / "all_frames" / "valid_all_frames" / "JPEGImages" / vid
        req_dir, ann_dir = root / "valid" / "JPEGImages" / vid, root / "valid" / "Annotations" / vid
        for d in (all_dir, req_dir, ann_dir):
            d.mkdir(parents=True)
        masks = {int(p.stem.split("_")[-1]): p for p in (src / "Annotations").glob("*.png")}
        for i, (frame, stem) in enumerate(zip(frames, renamed)):
            (all_dir / f"{stem}.jpg").symlink_to(frame.resolve())
            if i % 5 == 0 or i in new_at:
                (req_dir / f"{stem}.jpg").symlink_to(frame.resolve())
        objects = {}
        for i, ids in new_at.items():
            labels = np.array(Image.open(masks[i]))
            width = Image.open(frames[i]).width
            if labels.shape[1] != width:  # judo 00005.png is one pixel narrow: pad it for this fixture
                labels = np.pad(labels, ((0, 0), (0, width - labels.shape[1])))
            write_label_png(ann_dir / f"{renamed[i]}.png", np.where(np.isin(labels, ids), labels, 0))
            for object_id in ids:
                objects[str(object_id)] = {"category": "thing", "frames": [renamed[i]]}
        meta["videos"][vid] = {"objects": objects}
    (root / "valid" / "meta.json").write_text(json.dumps(meta))
    return root


def test_davis2016_reports_missing_sequences_or_uses_the_present_ones():
    root = require_shared("davis2016")
    with pytest.raises(FileNotFoundError, match=r"15 of 20 sequences .* not on disk.*allow_missing"):
        DavisDataset(root, year=2016, split="val")
    dataset = DavisDataset(root, year=2016, split="val", allow_missing=True)
    assert dataset.names == ["blackswan", "bmx-trees", "car-shadow", "dog", "libby"]
    sequence = dataset.sequence("bmx-trees")
    assert len(sequence) == 80 and sequence.fully_annotated
    mask = sequence.read_mask(0)
    assert set(np.unique(mask)) == {0, 1}
    assert [(a.frame, a.object_ids) for a in sequence.annotations()] == [(0, [1])]
    assert read_split_file(root / "ImageSets" / "480p" / "train.txt")[0] == "bear"


def test_davis2017_layout_with_void_and_a_subset(tmp_path):
    shared = require_shared("davis2017-samples")
    for seq in ("bear", "tennis"):
        link_sequence(sorted((shared / "JPEGImages/480p" / seq).glob("*.jpg")),
                      sorted((shared / "Annotations/480p" / seq).glob("*.png")),
                      tmp_path / "JPEGImages/480p" / seq, tmp_path / "Annotations/480p" / seq)
    (tmp_path / "ImageSets/2017").mkdir(parents=True)
    (tmp_path / "ImageSets/2017/val.txt").write_text("bear\ntennis\n")
    dataset = DavisDataset(tmp_path, split="val", sequences=["tennis"])
    tennis = dataset.sequence("tennis")
    assert 255 in np.unique(tennis.read_mask(0))
    assert tennis.annotations()[0].object_ids == [1, 2]  # void is no object
    with pytest.raises(ValueError, match=r"\['bmx'\] are not in"):
        DavisDataset(tmp_path, split="val", sequences=["bmx"])
    with pytest.raises(FileNotFoundError, match="split file .*test-dev.txt not found.*splits here: val"):
        DavisDataset(tmp_path, split="test-dev")
    (tmp_path / "ImageSets/2017/train.txt").write_text("bear\n../../escape\n")  # would write outside output_dir
    with pytest.raises(ValueError, match=r"\['../../escape'\] in .*train.txt are not plain folder names"):
        DavisDataset(tmp_path, split="train")


def test_folder_dataset_with_pumavos_names_and_late_objects():
    caps = require_shared("pumavos", "caps")
    dataset = FolderDataset(caps)
    assert dataset.names == ["caps"] and dataset.scorable  # its sparse masks score objects that come and go
    assert not FolderDataset(caps, protocol="davis").scorable  # the DAVIS kit needs every frame's mask
    sequence = dataset.sequence("caps")
    assert len(sequence) == 87 and sequence.frame_name(0) == "frame_000000"
    assert [(a.frame, a.object_ids) for a in sequence.annotations()] == [(0, [1]), (33, [2])]
    first_only = FolderDataset(caps, annotation_use="first").sequence("caps")
    assert [a.frame for a in first_only.annotations()] == [0]
    every = FolderDataset(caps, annotation_use="all").sequence("caps")
    assert [a.frame for a in every.annotations()] == [0, 14, 33, 43, 66]
    chair = FolderDataset(require_shared("pumavos", "chair"))
    assert chair.scorable


def test_size_mismatch_is_refused_with_the_file_name_or_resized_when_asked():
    judo = require_shared("judo-late-objects")
    sequence = FolderDataset(judo).sequence("judo-late-objects")
    with pytest.raises(ValueError, match=r"00005.png is 853×480 but its frame .*00005.jpg is 854×480.*resize_masks"):
        sequence.annotations()
    resized = FolderDataset(judo, resize_masks=True).sequence("judo-late-objects")
    annotations = resized.annotations()
    assert [(a.frame, a.object_ids) for a in annotations] == [(0, [1]), (5, [2]), (8, [3]), (13, [4])]
    assert annotations[1].labels.shape == (480, 854)


def test_youtube_vos_layout(tmp_path):
    root = youtube_fixture(tmp_path, require_shared())
    dataset = YouTubeVOSDataset(root, year=2019, all_frames=True)
    assert dataset.names == ["caps", "judo"] and not dataset.scorable and dataset.shorter_side == 480
    caps = dataset.sequence("caps")
    assert len(caps) == 87
    assert caps.outputs == sorted(set(range(0, 87, 5)) | {33})
    assert [(a.frame, a.object_ids) for a in caps.annotations()] == [(0, [1]), (33, [2])]
    judo = dataset.sequence("judo")
    assert [(a.frame, a.object_ids) for a in judo.annotations()] == [(0, [1]), (5, [2]), (8, [3]), (13, [4])]
    sparse = YouTubeVOSDataset(root, year=2019, all_frames=False).sequence("caps")
    assert len(sparse) == len(caps.outputs) and sparse.outputs == list(range(len(sparse)))
    (root / "all_frames").rename(root / "elsewhere")
    with pytest.raises(FileNotFoundError, match="valid_all_frames/JPEGImages not found.*all_frames=false"):
        YouTubeVOSDataset(root, all_frames=True)


def test_bad_input_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset folder not found"):
        FolderDataset(tmp_path / "nowhere")
    (tmp_path / "JPEGImages" / "a").mkdir(parents=True)
    (tmp_path / "Annotations" / "a").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no images"):
        FolderDataset(tmp_path)
    frame = np.zeros((8, 10, 3), np.uint8)
    Image.fromarray(frame).save(tmp_path / "JPEGImages" / "a" / "00000.jpg")
    (tmp_path / "JPEGImages" / "a" / "00001.jpg").write_bytes(b"not a jpeg")
    write_label_png(tmp_path / "Annotations" / "a" / "00000.png", np.zeros((8, 10), np.uint8))
    sequence = FolderDataset(tmp_path).sequence("a")
    with pytest.raises(ValueError, match="first mask of a .*00000.png.* is empty"):
        sequence.annotations()
    binary = np.zeros((8, 10), np.uint8)
    binary[2:5, 3:6] = 255
    Image.fromarray(binary, mode="L").save(tmp_path / "Annotations" / "a" / "00000.png")  # a 0/255 grayscale mask
    with pytest.raises(ValueError, match="is empty: .*255 means void, not an object"):
        FolderDataset(tmp_path).sequence("a").annotations()
    with pytest.raises(ValueError, match=r"cannot read image .*00001.jpg"):
        sequence.read_frame(1)
    write_label_png(tmp_path / "Annotations" / "a" / "00009.png", np.zeros((8, 10), np.uint8))
    with pytest.raises(ValueError, match=r"00009.png has no frame"):
        FolderDataset(tmp_path).sequence("a")
    (tmp_path / "Annotations" / "a" / "00009.png").unlink()
    Image.fromarray(np.zeros((8, 10, 3), np.uint8)).save(tmp_path / "Annotations" / "a" / "00000.png")
    with pytest.raises(ValueError, match="is a RGB image; expected a palette"):
        FolderDataset(tmp_path).sequence("a").read_mask(0)
