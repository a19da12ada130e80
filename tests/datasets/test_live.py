"""Live sources: what ``video=`` names one, raw frames and containers on a pipe, the queue (waiting or dropping
late frames), and clear errors for sources that do not open."""

import io
import logging
import os
import threading
import time

import numpy as np
import pytest

from stcnbuf.datasets.live import LiveVideo, is_live_video, open_frames, parse_frame_size, raw_frames
from tests.conftest import moving_squares


def test_what_names_a_live_source(tmp_path, monkeypatch):
    for spec in ("-", 0, "0", "12", "/dev/video2", "rtsp://cam.local:554/live", "http://127.0.0.1:8000/x.mp4",
                 "https://example.org/s.m3u8", "srt://host:9000", "udp://@:1234"):
        assert is_live_video(spec), spec
    (tmp_path / "3").mkdir()
    (tmp_path / "clip.mp4").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    for spec in ("clip.mp4", "3", str(tmp_path), "/dev/null", "frames/*.png", "-x"):
        assert not is_live_video(spec), spec  # a folder named 3 here is that folder


def test_raw_frame_sizes_are_parsed_or_refused():
    assert parse_frame_size("640x480") == (640, 480) and parse_frame_size(" 64 X 48 ") == (64, 48)
    assert parse_frame_size(None) is None
    for bad in ("640", "640x0", "axb", "640x480x3"):
        with pytest.raises(ValueError, match="reader.size=.*WIDTHxHEIGHT"):
            parse_frame_size(bad)
    with pytest.raises(ValueError, match="reader.size=64x48 is for raw frames on standard input"):
        open_frames("http://127.0.0.1:1/x.mp4", (64, 48))


def raw_bytes(frames):
    return b"".join(np.ascontiguousarray(f).tobytes() for f in frames)


def test_raw_frames_end_with_the_stream_and_drop_a_torn_frame(caplog):
    frames, _ = moving_squares(3)
    stream = io.BytesIO(raw_bytes(frames) + frames[0].tobytes()[:50])
    with caplog.at_level(logging.WARNING, logger="stcnbuf.datasets.live"):
        read = list(raw_frames(stream, 100, 72))
    assert len(read) == 3 and all(np.array_equal(a, b) for a, b in zip(read, frames))
    assert "ended inside a frame (50 of 21600 bytes)" in caplog.text


def test_frames_come_in_order_with_their_arrival_and_sizes():
    frames, _ = moving_squares(6, 72, 100)
    video = LiveVideo("-", shorter_side=36, size=(100, 72), stdin=io.BytesIO(raw_bytes(frames)))
    assert video.original_size == (72, 100) and video.working_size == (36, 50)
    got = list(video.frames())
    assert [f.stream_index for f in got] == list(range(6)) and all(np.array_equal(f.image, frames[i])
                                                                   for i, f in enumerate(got))
    assert all(a.arrival <= b.arrival for a, b in zip(got, got[1:]))
    first = video.first_frame_view()
    assert len(first) == 1 and next(first.iterate([0])).shape == (36, 50, 3)
    with pytest.raises(IndexError, match="first"):
        next(first.iterate([1]))
    stopped = LiveVideo("-", size=(100, 72), stdin=io.BytesIO(raw_bytes(frames)))
    assert len(list(stopped.frames(stop=lambda: True))) == 1
    with pytest.raises(ValueError, match="ended before its first frame"):
        LiveVideo("-", size=(100, 72), stdin=io.BytesIO(b""))


def slow_reader(video, seconds=0.05):
    taken = []
    for frame in video.frames():
        taken.append(frame.stream_index)
        time.sleep(seconds)
    return taken


def test_a_slow_segmenter_makes_the_reader_wait_or_drops_late_frames():
    frames, _ = moving_squares(12)
    waiting = LiveVideo("-", size=(100, 72), queue_frames=2, stdin=io.BytesIO(raw_bytes(frames)))
    assert slow_reader(waiting) == list(range(12)) and waiting.full_waits > 0 and waiting.dropped == 0
    dropping = LiveVideo("-", size=(100, 72), queue_frames=2, drop_late=True, stdin=io.BytesIO(raw_bytes(frames)))
    taken = slow_reader(dropping)
    assert taken == sorted(taken) and taken[0] == 0 and taken[-1] == 11
    assert dropping.dropped > 0 and len(taken) + dropping.dropped == 12 == dropping.delivered + dropping.dropped


def test_a_container_byte_stream_on_a_pipe(tmp_path):
    """Standard input without reader.size: a Matroska stream through a real (unseekable) pipe."""
    import av

    frames, _ = moving_squares(5, 72, 100)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("ffv1", rate=10)  # lossless: the frames come back as they were
        stream.width, stream.height, stream.pix_fmt = 100, 72, "bgr0"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(buffer.getvalue())

    threading.Thread(target=write, daemon=True).start()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        video = LiveVideo("-", shorter_side=None, stdin=pipe)
        got = [f.image for f in video.frames()]
    assert video.fps == pytest.approx(10) and len(got) == 5
    assert all(np.array_equal(a, b) for a, b in zip(got, frames))


def test_sources_that_do_not_open_say_so():
    with pytest.raises(ValueError, match=r"video=http://127.0.0.1:1/x.mp4: cannot open the stream"):
        LiveVideo("http://127.0.0.1:1/x.mp4")
    with pytest.raises(ValueError, match="video=/dev/video97: cannot open the camera"):
        LiveVideo("/dev/video97")
    with pytest.raises(ValueError, match="queue_frames must be >= 1"):
        LiveVideo("-", queue_frames=0)
