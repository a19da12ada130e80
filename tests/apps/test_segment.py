import json
import os
import subprocess
from pathlib import Path
import sys

import cv2
import numpy as np
import pytest
import torch
import torchvision
from omegaconf import OmegaConf

from stcnbuf.apps.segment.initial import initial_annotations, read_mask_file
from stcnbuf.apps.segment.segment import segment_video
from stcnbuf.datasets.video import VideoSource, _runs
from stcnbuf.io.masks import read_label_png, write_label_png
from stcnbuf.io.rle import read_rle_file
from tests.conftest import REPO, compose, require_shared




def box_mask(path, height, width, boxes):
    labels = np.zeros((height, width), np.uint8)
    for object_id, (y0, y1, x0, x1) in enumerate(boxes, 1):
        labels[y0:y1, x0:x1] = object_id
    return write_label_png(path, labels)


def run_segment(tmp_path, video, checkpoint, *overrides, name="out"):
    cfg = compose("segment", [f"video={video}", f"model.checkpoint={checkpoint}", f"output_dir={tmp_path / name}",
                              "reader.shorter_side=64", *overrides])
    return segment_video(cfg)


def test_frame_runs_are_split_for_streaming():
    assert _runs([3, 4, 5, 9, 8, 7, 1]) == [(3, 5, 1), (9, 7, -1), (1, 1, 1)]


REAL_VIDEOS = {  # name: (frames, fps, (height, width), boxes of the initial objects)
    "bedroom.mp4": (200, 30.0, (540, 960), [(150, 450, 200, 450), (150, 450, 550, 800)]),
    "05_default_juggle.mp4": (247, 24.0, (720, 1280), [(200, 600, 500, 800), (100, 700, 850, 1100)]),
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["online", "offline"])
@pytest.mark.parametrize("name", sorted(REAL_VIDEOS))
def test_real_videos_end_to_end(tmp_path, tiny_checkpoint, name, mode):
    video = require_shared("videos", name)
    frames, fps, (height, width), boxes = REAL_VIDEOS[name]
    mask = box_mask(tmp_path / "init.png", height, width, boxes)
    result = run_segment(tmp_path, video, tiny_checkpoint, f"inference={mode}", "init.mask=" + str(mask),
                         "outputs.png=true", "memory.capacity=4", "inference.mem_every=10")
    rle = read_rle_file(result["masks"])
    assert rle.is_complete() and rle.num_frames == frames and (rle.height, rle.width) == (height, width)
    assert rle.object_ids == [1, 2] and rle.fps == pytest.approx(fps)
    lines = Path(result["masks"]).read_text().splitlines()[1:]
    assert len(lines) == frames and all(set(json.loads(line)["objects"]) == {"1", "2"} for line in lines)
    middle = frames // 2  # the default initial frame keeps its given masks
    assert np.array_equal(rle.label_map(middle), read_label_png(mask))
    assert np.array_equal(rle.label_map(middle - 1), read_label_png(tmp_path / "out" / "masks" /
                                                                    f"{middle - 1:06d}.png"))
    overlay = VideoSource(result["overlay"], shorter_side=None)
    assert len(overlay) == frames and overlay.fps == pytest.approx(fps) and overlay.original_size == (height, width)


class Interrupted(KeyboardInterrupt):
    pass


def interrupt_after(monkeypatch, visits):
    """Make the segmenter raise after ``visits`` segmented (non-annotated) visits, as a kill would."""
    from stcnbuf.engine.segmenter import Segmenter

    original, count = Segmenter.process, [0]

    def process(self, *args, **kwargs):
        if count[0] == visits:
            raise Interrupted
        count[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Segmenter, "process", process)
    return count


@pytest.mark.slow
@pytest.mark.parametrize("mode,init_frame,visits,where", [
    ("online", 0, 24, "forward run"),
    ("online", 20, 30, "backward run"),
    ("offline", 12, 5, "burn-in"),
])
def test_interrupted_runs_resume_and_write_each_frame_once(tmp_path, tiny_checkpoint, monkeypatch, mode, init_frame,
                                                           visits, where):
    video = require_shared("videos", "05_default_juggle.mp4")
    mask = box_mask(tmp_path / "init.png", 720, 1280, [(200, 600, 500, 800)])
    args = [f"init.frame={init_frame}", f"init.mask={mask}", "reader.stop=40", "snapshot_every=3",
            "outputs.overlay=false", f"inference={mode}"]
    straight = run_segment(tmp_path, video, tiny_checkpoint, *args, name="straight")
    interrupt_after(monkeypatch, visits)
    with pytest.raises(Interrupted):
        run_segment(tmp_path, video, tiny_checkpoint, *args, name="resumed")
    out = tmp_path / "resumed"
    assert any((out / "snapshots").glob("visit-*.pt")) and (out / "masks.rle.jsonl.partial").is_file()
    monkeypatch.undo()
    resumed = run_segment(tmp_path, video, tiny_checkpoint, *args, name="resumed")
    lines = Path(resumed["masks"]).read_text().splitlines()[1:]
    assert sorted(json.loads(line)["frame"] for line in lines) == list(range(40)), where  # each frame once
    # the rerun continued from the last snapshot (every 3 visits) instead of starting over
    assert resumed["segmented_frames"] <= straight["segmented_frames"] - visits + 3
    assert Path(resumed["masks"]).read_bytes() == Path(straight["masks"]).read_bytes()
    assert 0 < len(list((out / "snapshots").glob("visit-*.pt"))) <= 10  # kept for corrections, a bounded number
    assert straight["burn_in_frames"] == (7 if mode == "offline" else 0)
    assert straight["segmented_frames"] == 40 + straight["burn_in_frames"]
    with pytest.raises(ValueError, match="another configuration"):
        run_segment(tmp_path, video, tiny_checkpoint, *args, "memory.capacity=3", name="resumed")


@pytest.mark.slow
def test_blackswan_with_its_davis_mask(tmp_path, tiny_checkpoint):
    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    assert set(np.unique(read_mask_file(str(mask)))) == {0, 1}  # 0/255 read as one object
    result = run_segment(tmp_path, video, tiny_checkpoint, "init.frame=0", f"init.mask={mask}", "inference=offline",
                         "outputs.overlay=false")
    rle = read_rle_file(result["masks"])
    assert rle.num_frames == 50 and (rle.height, rle.width) == (480, 854)
    assert np.array_equal(rle.label_map(0), read_mask_file(str(mask)))


def test_offline_from_the_middle_frame_reads_the_mask_there(tmp_path, tiny_checkpoint):
    """``inference.init_frame=middle`` puts the initial mask on the middle frame; a different init.frame is refused."""
    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    args = [f"init.mask={mask}", "inference=offline", "inference.init_frame=middle", "reader.stop=6",
            "outputs.overlay=false"]
    rle = read_rle_file(run_segment(tmp_path, video, tiny_checkpoint, *args)["masks"])
    assert rle.num_frames == 6 and rle.extra["given_frames"] == [3]
    assert np.array_equal(rle.label_map(3), read_mask_file(str(mask)))
    with pytest.raises(ValueError, match="init.frame=0 and inference.init_frame=middle disagree"):
        run_segment(tmp_path, video, tiny_checkpoint, *args, "init.frame=0", name="both")


def test_changed_inputs_are_not_presented_as_results(tmp_path, tiny_checkpoint):
    video = require_shared("videos", "blackswan.mp4")
    mask = tmp_path / "init.png"
    labels = (read_mask_file(str(require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png"))))
    write_label_png(mask, labels)
    args = ["init.frame=0", f"init.mask={mask}", "reader.stop=4", "outputs.overlay=false"]
    first = read_rle_file(run_segment(tmp_path, video, tiny_checkpoint, *args)["masks"])
    times = mask.stat()
    labels[:, : labels.shape[1] // 2] = 0  # same size and file time: only the contents tell
    write_label_png(mask, labels)
    os.utime(mask, ns=(times.st_atime_ns, times.st_mtime_ns))
    redone = run_segment(tmp_path, video, tiny_checkpoint, *args)  # a changed mask: what it affects is redone
    assert redone["frames_reused"] == 0 and redone["frames_recomputed"] == 4
    redone = read_rle_file(redone["masks"])
    assert np.array_equal(redone.label_map(0), labels) and not np.array_equal(first.label_map(0), labels)
    frames = tmp_path / "frames"
    frames.mkdir()
    for index, frame in enumerate(VideoSource(video, shorter_side=None).iterate(range(4))):
        cv2.imwrite(str(frames / f"{index:05d}.jpg"), frame[..., ::-1])
    run_segment(tmp_path, frames, tiny_checkpoint, *args, name="folder")
    touched = frames / "00002.jpg"
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    with pytest.raises(ValueError, match=r"another configuration \(inputs.video"):
        run_segment(tmp_path, frames, tiny_checkpoint, *args, name="folder")


def test_initial_masks_are_checked(tmp_path):
    from rlemasklib import RLEMask

    from stcnbuf.io.rle import rle_to_json

    video = require_shared("videos", "blackswan.mp4")
    source = VideoSource(video, shorter_side=64)
    wrong = box_mask(tmp_path / "wrong.png", 100, 100, [(10, 20, 10, 20)])
    init = OmegaConf.create({"method": "mask", "frame": 3, "mask": str(wrong)})
    with pytest.raises(ValueError, match="is 100×100 but the video is 854×480"):
        initial_annotations(init, source)
    empty = box_mask(tmp_path / "empty.png", 480, 854, [])
    with pytest.raises(ValueError, match="is empty"):
        initial_annotations(OmegaConf.create({"method": "mask", "frame": None, "mask": str(empty)}), source)
    only_255 = tmp_path / "only-255.json"  # in an RLE file, 255 is an object like any other id
    labels = np.zeros((480, 854), np.uint8)
    labels[100:200, 100:200] = 1
    only_255.write_text(json.dumps({"255": rle_to_json(RLEMask.from_array(labels))}))
    (_, annotation), = initial_annotations(OmegaConf.create({"method": "mask", "frame": None, "mask": str(only_255)}),
                                           source).items()
    assert annotation.object_ids == [255]
    with pytest.raises(ValueError, match="outside the video"):
        initial_annotations(OmegaConf.create({"method": "mask", "frame": 99, "mask": str(empty)}), source)
    good = box_mask(tmp_path / "good.png", 480, 854, [(100, 300, 200, 500)])
    annotations = initial_annotations(OmegaConf.create({"method": "mask", "frame": None, "mask": str(good)}), source)
    (frame, annotation), = annotations.items()
    assert frame == annotation.frame == 25 and annotation.object_ids == [1]
    assert annotation.labels.shape == source.working_size


def test_reader_settings_and_frame_sizes_are_checked(tmp_path):
    video = require_shared("videos", "blackswan.mp4")
    with pytest.raises(ValueError, match=r"reader.step must be an integer >= 1, got 0"):
        VideoSource(video, step=0)
    with pytest.raises(ValueError, match=r"reader.start must be an integer >= 0, got -2"):
        VideoSource(video, start=-2)
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "00000.jpg"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(frames / "00001.jpg"), np.zeros((40, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"00001.jpg is 64×40, the first frame 64×48"):
        list(VideoSource(frames, shorter_side=None).frame_source().iterate(range(2)))
    with pytest.raises(ValueError, match=r"reader.shorter_side must be a positive number of pixels .* got -5"):
        VideoSource(frames, shorter_side=-5)
    with pytest.raises(ValueError, match=r"reader.constant_fps must be a positive frame rate or null .* got -1"):
        VideoSource(frames, constant_fps=-1)


def test_ids_a_png_cannot_hold_point_at_the_option(tmp_path, tiny_checkpoint):
    from rlemasklib import RLEMask

    from stcnbuf.io.rle import rle_to_json

    video = require_shared("videos", "blackswan.mp4")
    labels = np.zeros((480, 854), np.uint8)
    labels[100:300, 200:500] = 1
    mask = tmp_path / "id300.json"
    mask.write_text(json.dumps({"300": rle_to_json(RLEMask.from_array(labels))}))
    args = ["init.frame=0", f"init.mask={mask}", "reader.stop=3", "outputs.overlay=false"]
    with pytest.raises(ValueError, match=r"object id\(s\) \[300\] .* set outputs.png=false"):
        run_segment(tmp_path, video, tiny_checkpoint, *args, "outputs.png=true")
    assert read_rle_file(run_segment(tmp_path, video, tiny_checkpoint, *args, name="rle")["masks"]).object_ids == [300]


def test_object_255_of_an_rle_mask_is_kept_and_written_as_given(tmp_path, tiny_checkpoint):
    """255 is void in PNGs only: an RLE file holds each object's mask by id, so 255 there is an object, tracked
    and written exactly as given on its frame."""
    from rlemasklib import RLEMask

    from stcnbuf.io.rle import rle_to_json

    video = require_shared("videos", "blackswan.mp4")
    given = np.zeros((480, 854), np.uint8)
    given[100:300, 200:400] = 1
    given[150:350, 500:700] = 255
    mask = tmp_path / "ids-1-255.json"
    mask.write_text(json.dumps({str(i): rle_to_json(RLEMask.from_array(given == i)) for i in (1, 255)}))
    result = run_segment(tmp_path, video, tiny_checkpoint, "init.frame=0", f"init.mask={mask}", "reader.stop=3")
    rle = read_rle_file(result["masks"])
    assert rle.object_ids == [1, 255]
    assert np.array_equal(rle.label_map(0), given)
    assert (rle.label_map(2) == 255).any()


def test_an_rle_claiming_a_huge_size_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    from rlemasklib import RLEMask

    from stcnbuf.io.rle import RLEFile, rle_to_json

    source = VideoSource(require_shared("videos", "blackswan.mp4"), shorter_side=64)
    huge = tmp_path / "huge.rle.jsonl"
    header = RLEFile(height=40000, width=40000, num_frames=1, object_ids=[1]).header()
    frame = {"frame": 0, "objects": {"1": rle_to_json(RLEMask.ones((40000, 40000)))}}
    huge.write_text(json.dumps(header) + "\n" + json.dumps(frame) + "\n")
    assert huge.stat().st_size < 400

    def no_decoding(*args):
        raise AssertionError("the 40000×40000 label map was decoded")

    monkeypatch.setattr(RLEFile, "label_map", no_decoding)
    with pytest.raises(ValueError, match="huge.rle.jsonl is 40000×40000 but the video is 854×480"):
        initial_annotations(OmegaConf.create({"method": "mask", "frame": 0, "mask": str(huge)}), source)


def test_maskrcnn_initialisation_path_with_local_weights(tmp_path):
    video = require_shared("videos", "blackswan.mp4")
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    torch.save(model.state_dict(), tmp_path / "maskrcnn.pth")
    source = VideoSource(video, shorter_side=64)
    init = OmegaConf.create({"method": "maskrcnn", "frame": 0, "weights": str(tmp_path / "maskrcnn.pth"),
                             "classes": ["person"], "score_threshold": 0.99, "max_objects": 3,
                             "mask_threshold": 0.5, "cleanup": True, "min_area": 4})
    with pytest.raises(ValueError, match="no object to track on frame 0"):  # random weights: nothing confident
        initial_annotations(init, source)
    init.weights = str(tmp_path / "missing.pth")
    with pytest.raises(Exception, match="maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"):
        initial_annotations(init, source)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["online", "offline"])
def test_memory_stays_flat_on_a_video_three_times_as_long(tmp_path, tiny_checkpoint, mode):
    """The same clip fed once and three times in a row (a folder of its frames repeated)."""
    video = require_shared("videos", "blackswan.mp4")
    frames = list(VideoSource(video, shorter_side=None).iterate_original(range(50)))
    from PIL import Image

    peaks = {}
    for repeats in (1, 3):
        folder = tmp_path / f"x{repeats}"
        folder.mkdir()
        for i in range(50 * repeats):
            Image.fromarray(frames[i % 50]).save(folder / f"{i:05d}.jpg", quality=90)
        mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
        script = (
            "import resource, sys; sys.argv = sys.argv[:1] + sys.argv[2:]\n"
            "from stcnbuf.apps.cli import segment as main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
        done = subprocess.run([sys.executable, "-c", script, "x", f"video={folder}", f"model.checkpoint={tiny_checkpoint}",
                               f"output_dir={tmp_path / f'out{repeats}'}", "init.frame=0", f"init.mask={mask}",
                               "reader.shorter_side=96", "outputs.overlay=false", "memory.capacity=4",
                               f"inference={mode}"],
                              cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        peaks[repeats] = int(done.stdout.split("PEAK")[-1])
        assert read_rle_file(tmp_path / f"out{repeats}" / "masks.rle.jsonl").num_frames == 50 * repeats
    assert peaks[3] <= 1.05 * peaks[1] + 32 * 1024, peaks  # KiB


def test_viewer_writes_the_overlay_and_postprocess_cli(tmp_path, tiny_checkpoint):
    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    result = run_segment(tmp_path, video, tiny_checkpoint, "init.frame=0", f"init.mask={mask}", "reader.stop=8",
                         "outputs.overlay=false")
    cleaned = tmp_path / "clean.rle.jsonl"
    done = subprocess.run([sys.executable, "-m", "stcnbuf.apps.segment.postprocess", result["masks"], str(cleaned),
                           "--largest-component", "--close", "3"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(cleaned.read_text().splitlines()[0])["extra"]["postprocess"]
    view = [sys.executable, "-m", "stcnbuf.apps.segment.view"]
    # beside its segment.json, the viewer knows the run used frames 0..7 of the video
    done = subprocess.run([*view, result["masks"], str(video), "--out", str(tmp_path / "run.mp4")], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(VideoSource(tmp_path / "run.mp4", shorter_side=None)) == 8
    # elsewhere, the frame selection is given on the command line
    done = subprocess.run([*view, str(cleaned), str(video), "--out", str(tmp_path / "view.mp4")], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "do not fit the video" in done.stderr  # 8 frames of masks, 50 in the video
    done = subprocess.run([*view, str(cleaned), str(video), "--stop", "8", "--out", str(tmp_path / "view.mp4")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert len(VideoSource(tmp_path / "view.mp4", shorter_side=None)) == 8




def test_initial_frames_pair_with_their_masks_in_the_order_given(tmp_path):
    video = require_shared("videos", "blackswan.mp4")
    source = VideoSource(video, shorter_side=None)
    late = box_mask(tmp_path / "late.png", 480, 854, [(0, 0, 0, 0), (10, 50, 10, 50)])  # object 2 only
    early = box_mask(tmp_path / "early.png", 480, 854, [(100, 300, 200, 500)])
    init = OmegaConf.create({"method": "mask", "frame": [30, 4], "mask": [str(late), str(early)]})
    annotations = initial_annotations(init, source)
    assert sorted(annotations) == [4, 30] and annotations[4].object_ids == [1] and annotations[30].object_ids == [2]
    # an RLE file of a run (masks.rle.jsonl) gives the initial frame's own masks
    from stcnbuf.io.rle import RLEWriter

    with RLEWriter(tmp_path / "run.rle.jsonl", 480, 854, 50, [1, 2]) as writer:
        for t in range(50):
            writer.write(t, read_label_png(early) if t != 30 else read_label_png(late))
    from_rle = initial_annotations(OmegaConf.create({"method": "mask", "frame": 30,
                                                     "mask": str(tmp_path / "run.rle.jsonl")}), source)
    assert from_rle[30].object_ids == [2] and np.array_equal(from_rle[30].labels, read_label_png(late))


def test_postprocessing_in_the_app_and_outputs_of_other_settings_are_redone(tmp_path, tiny_checkpoint):
    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    args = ["init.frame=0", f"init.mask={mask}", "reader.stop=6", "outputs.png=true"]
    raw = run_segment(tmp_path, video, tiny_checkpoint, *args)
    assert "clean_masks" not in raw
    png = tmp_path / "out" / "masks" / "000003.png"
    assert np.array_equal(read_label_png(png), read_rle_file(raw["masks"]).label_map(3))
    overlay_time = Path(raw["overlay"]).stat().st_mtime_ns
    again = run_segment(tmp_path, video, tiny_checkpoint, *args)  # nothing changed: nothing redone
    assert Path(again["overlay"]).stat().st_mtime_ns == overlay_time
    cleaned = run_segment(tmp_path, video, tiny_checkpoint, *args, "postprocess.close=2",
                          "postprocess.largest_component=true", "postprocess.temporal_window=1")
    clean = read_rle_file(cleaned["clean_masks"])
    assert clean.extra["postprocess"][-1]["temporal_window"] == 1
    assert np.array_equal(clean.label_map(0), read_mask_file(str(mask)))  # the given mask is kept as given
    assert np.array_equal(read_label_png(png), clean.label_map(3))  # PNGs now show the cleaned masks
    assert Path(cleaned["overlay"]).stat().st_mtime_ns > overlay_time
    back = run_segment(tmp_path, video, tiny_checkpoint, *args)  # clean-up off again: raw masks again
    assert np.array_equal(read_label_png(png), read_rle_file(back["masks"]).label_map(3))


def test_many_videos_in_one_command_resume_per_video(tmp_path, tiny_checkpoint):
    from stcnbuf.apps.segment.batch import segment_videos, video_list

    clip = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    videos, masks = tmp_path / "videos", tmp_path / "masks"
    videos.mkdir()
    masks.mkdir()
    for name in ("a", "b"):
        (videos / f"{name}.mp4").symlink_to(clip)
    (masks / "a.png").symlink_to(mask)
    (tmp_path / "list.txt").write_text("# two clips\nvideos/b.mp4\nvideos/a.mp4\n")
    assert video_list(str(videos)) == [videos / "a.mp4", videos / "b.mp4"]
    assert video_list(str(videos / "*.mp4")) == [videos / "a.mp4", videos / "b.mp4"]
    assert video_list(str(tmp_path / "list.txt")) == [tmp_path / "videos" / "b.mp4", tmp_path / "videos" / "a.mp4"]
    assert video_list(str(clip)) is None  # one video

    def run(*overrides):
        cfg = compose("segment", [f"video={videos}", f"model.checkpoint={tiny_checkpoint}", f"init.mask={masks}",
                                  f"output_dir={tmp_path / 'out'}", "init.frame=0", "reader.shorter_side=64",
                                  "reader.stop=4", "outputs.overlay=false", *overrides])
        return segment_videos(cfg, video_list(str(videos)), segment_video)

    first = run()
    assert list(first["results"]) == ["a"] and "put " + str(masks / "b.png") in first["failed"]["b"]
    assert not first["complete"] and json.loads((tmp_path / "out" / "videos.json").read_text())["failed"]
    done = tmp_path / "out" / "a" / "masks.rle.jsonl"
    stamp = done.stat().st_mtime_ns
    (masks / "b.png").symlink_to(mask)
    assert run("shard=1/2")["videos"] == 1  # b only
    second = run()
    assert second["complete"] and done.stat().st_mtime_ns == stamp  # a was complete: kept
    assert read_rle_file(tmp_path / "out" / "b" / "masks.rle.jsonl").num_frames == 4
    assert (tmp_path / "out" / "shards" / "1-of-2" / "videos.json").is_file()


def test_outputs_changed_after_a_run_are_written_again(tmp_path, tiny_checkpoint):
    """The markers vouch for the files' contents, not their existence: a PNG replaced, the overlay cut short or
    the masks file edited after a completed run are redone by the rerun, the rest kept."""
    video = require_shared("videos", "blackswan.mp4")
    mask = require_shared("davis2016", "Annotations", "480p", "blackswan", "00000.png")
    args = ["init.frame=0", f"init.mask={mask}", "reader.stop=6", "outputs.png=true", "outputs.overlay=true"]
    first = run_segment(tmp_path, video, tiny_checkpoint, *args)
    out = tmp_path / "out"
    masks, png, overlay = out / "masks.rle.jsonl", out / "masks" / "000002.png", out / "overlay.mp4"
    original = {path: path.read_bytes() for path in (masks, png, overlay)}
    kept = out / "masks" / "000003.png"
    kept_since = kept.stat().st_mtime_ns
    write_label_png(png, np.zeros((480, 854), np.uint8))
    overlay.write_bytes(original[overlay][: len(original[overlay]) // 2])
    again = run_segment(tmp_path, video, tiny_checkpoint, *args)
    assert again["frames_recomputed"] == 0                      # the masks file stood: nothing segmented
    assert png.read_bytes() == original[png]
    # rendered again (not byte-identical: the container stamps its creation time), every frame in it
    assert len(VideoSource(overlay, shorter_side=None)) == 6 and overlay.stat().st_size > len(original[overlay]) // 2
    assert kept.stat().st_mtime_ns == kept_since                # an intact PNG is not rewritten
    lines = masks.read_text().splitlines()
    edited = json.loads(lines[4])
    edited["objects"] = {}
    masks.write_text("\n".join(lines[:4] + [json.dumps(edited)] + lines[5:]) + "\n")
    redone = run_segment(tmp_path, video, tiny_checkpoint, *args)
    assert redone["frames_reused"] == 0 and redone["frames_recomputed"] == first["frames_recomputed"] == 6
    assert masks.read_bytes() == original[masks]
