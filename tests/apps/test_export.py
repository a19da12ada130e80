"""Exports of an RLE file: DAVIS palette PNGs, SA-V per-object PNGs, YouTube-VIS JSON, RGBA mattes, matte videos."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from stcnbuf.apps.export.__main__ import main
from stcnbuf.datasets.video import VideoSource
from stcnbuf.io.masks import read_label_png
from stcnbuf.io.rle import RLEFile, masks_from_label_map, read_rle_file, rle_from_json, write_rle_file
from tests.conftest import moving_squares


@pytest.fixture
def run(tmp_path):
    """A folder of 5 frames and its masks: object 1 everywhere, object 2 absent on frame 3."""
    frames, labels = moving_squares(num_frames=5, height=64, width=80)
    (tmp_path / "video").mkdir()
    for t, frame in enumerate(frames):
        cv2.imwrite(str(tmp_path / "video" / f"f{t:03d}.png"), frame[..., ::-1])
    maps = [np.where(labels[t] == 2, 0, labels[t]) if t == 3 else labels[t] for t in range(5)]
    rle = RLEFile(64, 80, 5, [1, 2], fps=10.0, frames={t: masks_from_label_map(m) for t, m in enumerate(maps)})
    write_rle_file(tmp_path / "masks.rle.jsonl", rle)
    return tmp_path, frames, maps


def test_palette_and_per_object_pngs(run):
    root, _, maps = run
    assert main(["davis", str(root / "masks.rle.jsonl"), str(root / "davis"), "--video", str(root / "video")]) == 0
    assert np.array_equal(read_label_png(root / "davis" / "f002.png"), maps[2])  # the video's frame names
    assert main(["sav", str(root / "masks.rle.jsonl"), str(root / "sav")]) == 0
    assert sorted(p.name for p in (root / "sav").iterdir()) == ["001", "002"]
    for t in range(5):
        for object_id in (1, 2):
            png = read_label_png(root / "sav" / f"{object_id:03d}" / f"{t:05d}.png")
            assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 1}
            assert np.array_equal(png, (maps[t] == object_id).astype(np.uint8))


def test_youtube_vis_results(run):
    root, _, maps = run
    assert main(["youtube-vis", str(root / "masks.rle.jsonl"), str(root / "results.json"), "--video-id", "7"]) == 0
    results = json.loads((root / "results.json").read_text())
    assert [(r["video_id"], r["object_id"], r["category_id"]) for r in results] == [(7, 1, 1), (7, 2, 1)]
    second = results[1]["segmentations"]
    assert len(second) == 5 and second[3] is None and second[2]["size"] == [64, 80]
    assert np.array_equal(rle_from_json(second[2]).to_array().astype(bool), maps[2] == 2)


def test_rgba_mattes_and_matte_videos(run):
    root, frames, maps = run
    assert main(["rgba", str(root / "masks.rle.jsonl"), str(root / "rgba")]) == 2  # needs the frames
    assert main(["rgba", str(root / "masks.rle.jsonl"), str(root / "rgba"), "--video", str(root / "video")]) == 0
    rgba = np.array(Image.open(root / "rgba" / "002" / "f001.png"))
    assert rgba.shape == (64, 80, 4) and np.array_equal(rgba[..., :3], frames[1])
    assert np.array_equal(rgba[..., 3], (maps[1] == 2).astype(np.uint8) * 255)
    assert main(["matte", str(root / "masks.rle.jsonl"), str(root / "matte")]) == 0
    assert sorted(p.name for p in (root / "matte").iterdir()) == ["001.mp4", "002.mp4"]  # no partial file left
    video = VideoSource(root / "matte" / "001.mp4", shorter_side=None)
    assert len(video) == 5 and video.fps == pytest.approx(10.0)
    decoded = [f[:64, :80, 0] > 127 for f in video.iterate_original(range(5))]
    for t in range(5):
        inter, union = (decoded[t] & (maps[t] == 1)).sum(), (decoded[t] | (maps[t] == 1)).sum()
        assert inter / union > 0.9  # H.264 is lossy at the edges


def test_a_masks_file_that_does_not_fit_the_video_is_refused(run, capsys):
    root, _, _ = run
    (root / "video" / "f004.png").unlink()
    assert main(["rgba", str(root / "masks.rle.jsonl"), str(root / "rgba"), "--video", str(root / "video")]) == 2
    assert "has 5 frames, the video" in capsys.readouterr().err
    assert read_rle_file(root / "masks.rle.jsonl").num_frames == 5


@pytest.mark.slow
def test_onnx_networks_match_pytorch_and_segment_a_video(tmp_path, tiny_checkpoint):
    pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
    import torch

    from stcnbuf.engine.build import build_network
    from stcnbuf.apps.export.onnx import OnnxNetwork
    from stcnbuf.engine import Segmenter
    from stcnbuf.engine.memory import MemoryBank
    from tests.conftest import moving_squares

    assert main(["onnx", str(tiny_checkpoint), str(tmp_path / "onnx"), "--height", "64", "--width", "96"]) == 0
    net, onnx = build_network({"checkpoint": str(tiny_checkpoint), "net": {}}).eval(), OnnxNetwork(tmp_path / "onnx")
    frames = torch.randn(1, 3, 96, 128)  # another size than the example's
    with torch.no_grad():
        keys = net.encode_key(frames)
        assert max(float((a - b).abs().max()) for a, b in zip(keys, onnx.encode_key(frames))) < 1e-4
        for objects in (1, 3):
            masks = torch.rand(1, objects, 96, 128)
            assert float((net.encode_value(frames, keys[2], masks) -
                          onnx.encode_value(frames, keys[2], masks)).abs().max()) < 1e-4
            readout = torch.randn(1, objects, net.value_dim, 6, 8)
            assert float((net.decode(readout, keys[1], keys[3], keys[4]) -
                          onnx.decode(readout, keys[1], keys[3], keys[4])).abs().max()) < 1e-4
    video, labels = moving_squares(num_frames=8)
    runs = [Segmenter(model, MemoryBank("random_pixel", capacity=4, temp_size=1, seed=0), mem_every=2,
                            channels_last=False) for model in (net, onnx)]
    predictions = [[segmenter.start(video[0], labels[0])] + [segmenter.step(f) for f in video[1:]] for segmenter in runs]
    for torch_step, onnx_step in zip(*predictions):
        assert float((torch_step.probs - onnx_step.probs).abs().max()) < 1e-4
    with pytest.raises(FileNotFoundError, match="lacks encode_key.onnx"):
        OnnxNetwork(tmp_path)
