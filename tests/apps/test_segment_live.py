"""Live sources end to end: raw frames piped into ``video=-`` by a writer process that is killed, a segmenter
stopped by SIGTERM, an mp4 served over HTTP on 127.0.0.1; each compared frame for frame with the same frames
segmented from a folder or file (online, forward from frame 0)."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from stcnbuf.apps.segment.segment import segment_video
from stcnbuf.io.live_rle import read_live_file
from stcnbuf.io.masks import write_label_png
from stcnbuf.io.rle import read_rle_file
from tests.conftest import REPO, compose, moving_squares

FRAMES = 12
HEIGHT, WIDTH = 72, 100
#: how every run here reads and segments: online, forward from frame 0, at a small working size
COMMON = ["reader.shorter_side=64", "device=cpu", "inference.precision=fp32", "outputs.overlay=true"]


@pytest.fixture(scope="module")
def stream(tmp_path_factory, tiny_checkpoint):
    """The synthetic frames as a folder and an .npy file, the mask of frame 0, and their folder run."""
    root = tmp_path_factory.mktemp("live")
    frames, labels = moving_squares(FRAMES, HEIGHT, WIDTH)
    folder = root / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{index:05d}.png"), frame[..., ::-1])
    np.save(root / "frames.npy", np.stack(frames))
    mask = write_label_png(root / "mask.png", labels[0])
    args = [f"model.checkpoint={tiny_checkpoint}", f"init.mask={mask}", *COMMON]
    cfg = compose("segment", [f"video={folder}", "init.frame=0", "inference.backward=false",
                              f"output_dir={root / 'folder_run'}", *args])
    folder_rle = read_rle_file(segment_video(cfg)["masks"])
    return root, args, folder_rle


def writer_script(npy: Path, ready: Path, frames: int, half: bool) -> str:
    """A process writing the first ``frames`` frames as raw rgb24 to stdout (then, with ``half``, half of one
    more), touching ``ready`` and waiting to be killed."""
    return textwrap.dedent(f"""
        import sys, time
        import numpy as np
        frames = np.load({str(npy)!r})[:{frames}]
        out = sys.stdout.buffer
        for frame in frames:
            out.write(frame.tobytes())
        if {half}:
            out.write(frames[0].tobytes()[: frames[0].nbytes // 2])
        out.flush()
        open({str(ready)!r}, "w").close()
        time.sleep(600)
    """)


def segment_command(out: Path, args, *extra):
    return [sys.executable, "-m", "stcnbuf.apps.segment", "video=-", f"reader.size={WIDTH}x{HEIGHT}",
            f"output_dir={out}", *args, *extra]


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def assert_same_frames(live, folder, frames: int) -> None:
    assert live.num_frames == frames and live.is_complete() and live.object_ids == folder.object_ids
    for index in range(frames):
        assert np.array_equal(live.label_map(index), folder.label_map(index)), f"frame {index}"


@pytest.mark.slow
def test_piped_raw_frames_from_a_killed_writer(stream, tmp_path):
    """The writer dies mid-stream (after the frames and half of one more): the run ends at the end of the stream
    with every whole frame, equal to the folder run, and a complete header."""
    root, args, folder = stream
    ready = tmp_path / "ready"
    writer = subprocess.Popen([sys.executable, "-c", writer_script(root / "frames.npy", ready, FRAMES, True)],
                              stdout=subprocess.PIPE)
    out = tmp_path / "out"
    segmenter = subprocess.Popen(segment_command(out, args, "outputs.png=true"), stdin=writer.stdout, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ,
                                                                                        "PYTHONPATH": str(REPO)})
    writer.stdout.close()
    try:
        wait_for(ready.exists, 120, "the writer")
        writer.kill()
        log = segmenter.communicate(timeout=120)[0].decode()
    finally:
        writer.kill()
        segmenter.kill()
    assert segmenter.returncode == 0, log
    assert "stopped_by: end of stream" in log and "latency_ms_p95" in log and "ended inside a frame" in log
    live = read_rle_file(out / "masks.rle.jsonl")
    assert_same_frames(live, folder, FRAMES)
    assert live.extra["live"] is True and live.extra["dropped_frames"] == 0
    assert not (out / "masks.rle.jsonl.partial").exists()
    assert sorted(p.name for p in (out / "masks").glob("*.png")) == [f"{i:06d}.png" for i in range(FRAMES)]
    assert (out / "overlay.mp4").is_file() and not (out / "overlay.partial.mp4").exists()


@pytest.mark.slow
def test_sigterm_ends_a_live_run_with_a_complete_file(stream, tmp_path):
    """A segmenter stopped by SIGTERM while it waits for the stream's next frame writes a complete file of the
    frames it had flushed."""
    root, args, folder = stream
    writer = subprocess.Popen([sys.executable, "-c", writer_script(root / "frames.npy", tmp_path / "ready", 6, False)],
                              stdout=subprocess.PIPE)
    out = tmp_path / "out"
    segmenter = subprocess.Popen(segment_command(out, args), stdin=writer.stdout, cwd=tmp_path,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 env={**os.environ, "PYTHONPATH": str(REPO)})
    writer.stdout.close()
    partial = out / "masks.rle.jsonl.partial"
    try:
        wait_for(lambda: partial.is_file() and read_live_file(partial).num_frames == 6, 120, "six flushed frames")
        segmenter.send_signal(signal.SIGTERM)
        log = segmenter.communicate(timeout=60)[0].decode()
    finally:
        writer.kill()
        segmenter.kill()
    assert segmenter.returncode == 0, log
    assert "stopped_by: SIGTERM" in log
    live = read_rle_file(out / "masks.rle.jsonl")
    assert_same_frames(live, folder, 6)
    header = json.loads((out / "masks.rle.jsonl").read_text().splitlines()[0])
    assert header["num_frames"] == live.num_frames == len((out / "masks.rle.jsonl").read_text().splitlines()) - 1
    assert (out / "overlay.mp4").is_file()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_mp4_over_http_equals_the_file(stream, tmp_path):
    """``video=http://127.0.0.1:PORT/x.mp4`` (python -m http.server) gives the masks of the same file read as a
    file, online and forward; ``reader.max_frames`` stops it."""
    import framepump

    root, args, _ = stream
    frames = np.load(root / "frames.npy")
    served = tmp_path / "served"
    served.mkdir()
    with framepump.VideoWriter(served / "x.mp4", fps=10) as writer:
        for frame in frames:
            writer.append_data(frame)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"], cwd=served,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 30, "the HTTP server")
        url = f"http://127.0.0.1:{port}/x.mp4"
        live = segment_video(compose("segment", [f"video={url}", f"output_dir={tmp_path / 'http'}", *args,
                                                 "reader.max_frames=9"]))
    finally:
        server.kill()
    assert live["frames"] == 9 and live["stopped_by"] == "reader.max_frames"
    assert live["latency_ms_median"] <= live["latency_ms_p95"] <= live["latency_ms_max"]
    file_run = segment_video(compose("segment", [f"video={served / 'x.mp4'}", "init.frame=0", "reader.stop=9",
                                                 f"output_dir={tmp_path / 'file'}", *args]))
    live_rle, file_rle = read_rle_file(live["masks"]), read_rle_file(file_run["masks"])
    assert_same_frames(live_rle, file_rle, 9)
    assert live_rle.fps == pytest.approx(10) and live_rle.source == url


@pytest.mark.parametrize("override,message", [
    ("inference=offline", "inference=offline needs the whole video"),
    ("init.frame=3", "not init.frame=3"),
    ("reader.stop=5", "use reader.max_frames"),
    ("postprocess.close=2", "postprocess.close=2"),
])
def test_what_a_live_source_cannot_do_is_refused(tmp_path, override, message):
    cfg = compose("segment", ["video=-", "init.mask=m.png", f"output_dir={tmp_path}", "device=cpu", override])
    with pytest.raises(ValueError, match=message):
        segment_video(cfg)


def test_a_live_run_is_not_resumed_and_what_a_killed_one_left_is_closed(tmp_path, tiny_checkpoint):
    from stcnbuf.io.live_rle import LiveRLEWriter

    out = tmp_path / "out"
    writer = LiveRLEWriter(out / "masks.rle.jsonl", HEIGHT, WIDTH, [1, 2])  # a run killed after two frames
    for labels in moving_squares(2, HEIGHT, WIDTH)[1]:
        writer.write(labels)
    cfg = compose("segment", ["video=-", f"reader.size={WIDTH}x{HEIGHT}", f"model.checkpoint={tiny_checkpoint}",
                              "init.mask=m.png", f"output_dir={out}", "device=cpu"])
    with pytest.raises(ValueError, match="now the complete masks.rle.jsonl.*cannot be resumed.*resume=false"):
        segment_video(cfg)
    assert read_rle_file(out / "masks.rle.jsonl").num_frames == 2


def test_ctrl_c_asks_the_run_to_stop_and_a_second_one_interrupts():
    from stcnbuf.apps.segment.live import StopRequest

    outside = signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job ignores SIGINT
    try:
        _ctrl_c_stops_then_interrupts(StopRequest)
    finally:
        signal.signal(signal.SIGINT, outside)


def _ctrl_c_stops_then_interrupts(StopRequest) -> None:
    with StopRequest(max_frames=3, max_seconds=None) as stop:
        assert not stop(2) and stop(3) and stop.reason == "reader.max_frames"
    with StopRequest(max_frames=None, max_seconds=None) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        assert stop() and stop.reason == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with StopRequest(max_frames=None, max_seconds=0.05) as stop:
        assert not stop()
        time.sleep(0.06)
        assert stop() and stop.reason == "reader.max_seconds"
