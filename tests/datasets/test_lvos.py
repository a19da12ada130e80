import json
import math

import numpy as np
import pytest

from stcnbuf.apps.evaluate.evaluate import evaluate
from stcnbuf.datasets.lvos import LVOSDataset
from stcnbuf.io.masks import read_label_png, write_label_png
from stcnbuf.scoring.scorer import score_jobs, sequence_job
from tests.conftest import compose, require_shared


def write_lvos(root, videos):
    """An LVOS split folder: ``videos`` maps a name to (frame files or a frame count and size, {frame number:
    label map}, {object id: (start, end, frame_nums)})."""
    meta = {"videos": {}}
    for name, (frames, masks, objects) in videos.items():
        images, annotations = root / "JPEGImages" / name, root / "Annotations" / name
        images.mkdir(parents=True)
        annotations.mkdir(parents=True)
        if isinstance(frames, tuple):
            count, shape = frames
            for number in range(1, count + 1):
                write_label_png(images / f"{number:08d}.png", np.zeros(shape, np.uint8))  # any readable image
        else:
            for number, frame in enumerate(frames, start=1):
                (images / f"{number:08d}{frame.suffix}").symlink_to(frame.resolve())
        for number, labels in masks.items():
            write_label_png(annotations / f"{number:08d}.png", labels)
        meta["videos"][name] = {"objects": {str(k): {"frame_range": {"start": f"{a:08d}", "end": f"{b:08d}",
                                                                     "frame_nums": n}}
                                            for k, (a, b, n) in objects.items()}}
    (root / "meta.json").write_text(json.dumps(meta))
    return root


def lvos_fixture(root, shared):
    """Real frames and masks in the LVOS layout, annotated every 5th frame: DAVIS bmx-trees (its two objects
    from the OSVOS labels: the rider leaves after frame 61, the bike enters at frame 11) and DAVIS 2016 dog
    (one object, listed as unseen)."""
    frames = sorted((shared / "davis2016" / "JPEGImages" / "480p" / "bmx-trees").glob("*.jpg"))
    masks = {}
    for number in range(1, len(frames) + 1, 5):
        labels = read_label_png(shared / "davis2017-osvos" / "bmx-trees" / f"{number - 1:05d}.png")
        labels = np.where((labels == 1) & (number > 61), 0, labels)
        masks[number] = np.where((labels == 2) & (number < 11), 0, labels).astype(np.uint8)
    dog = sorted((shared / "davis2016" / "JPEGImages" / "480p" / "dog").glob("*.jpg"))
    dog_masks = {n: (read_label_png(shared / "davis2016" / "Annotations" / "480p" / "dog" / f"{n - 1:05d}.png") > 0)
                 .astype(np.uint8) for n in range(1, len(dog) + 1, 5)}
    write_lvos(root, {"bmx-trees": (frames, masks, {1: (1, 61, 13), 2: (11, 76, 14)}),
                      "dog": (dog, dog_masks, {1: (1, 56, 12)})})
    (root / "unseen_videos.txt").write_text("dog\n")
    return root


def test_lvos_layout_meta_ranges_and_inputs(tmp_path):
    root = lvos_fixture(tmp_path / "lvos", require_shared())
    dataset = LVOSDataset(root)
    assert dataset.names == ["bmx-trees", "dog"] and dataset.scorable and dataset.unseen == ["dog"]
    bmx = dataset.sequence("bmx-trees")
    assert len(bmx) == 80 and sorted(bmx.object_ranges) == [1, 2] and bmx.object_ranges[2].start == 11
    assert [(a.frame, a.object_ids) for a in bmx.annotations()] == [(0, [1]), (10, [2])]  # each object's first mask
    assert dataset.protocol == "lvos" and LVOSDataset(root, protocol="lvos_official").protocol == "lvos_official"


def test_lvos_bad_input_names_the_file(tmp_path):
    shape = (4, 6)
    one = np.zeros(shape, np.uint8)
    one[1:3, 1:4] = 1

    def make(name, objects, masks=None, frames=21):
        return write_lvos(tmp_path / name, {"v": ((frames, shape), masks or {1: one, 6: one}, objects)})

    root = make("nometa", {1: (1, 6, 2)})
    (root / "meta.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"no meta file in .*valid_meta.json.*data.meta"):
        LVOSDataset(root)
    with pytest.raises(ValueError, match=r"meta.json: object 1 of v has its range end at frame 26, but .* no such"):
        LVOSDataset(make("beyond", {1: (1, 26, 6)})).sequence("v")
    with pytest.raises(ValueError, match=r"says object 2 of v first appears at frame 1, but .*00000001.png does not"):
        LVOSDataset(make("disagree", {1: (1, 6, 2), 2: (1, 6, 2)})).sequence("v")
    with pytest.raises(ValueError, match=r"starts at frame 11, which has no mask"):
        LVOSDataset(make("nomask", {1: (11, 16, 2)})).sequence("v")
    with pytest.raises(ValueError, match=r"object id 300; label PNGs hold ids 1..254"):
        LVOSDataset(make("bigid", {300: (1, 6, 2)}))
    root = make("unlisted", {1: (1, 6, 2)})
    (root / "JPEGImages" / "extra").mkdir()
    with pytest.raises(ValueError, match=r"video folder\(s\) in .*JPEGImages have no entry in .*meta.json: extra"):
        LVOSDataset(root)
    (root / "meta.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"meta.json is not an LVOS meta file"):
        LVOSDataset(root)
    (root / "meta.json").write_text('{"videos": ["v"]}')
    with pytest.raises(ValueError, match=r"meta.json is not an LVOS meta file: \"videos\" must map"):
        LVOSDataset(root)


def _square(shape, where):
    labels = np.zeros(shape, np.uint8)
    for k, (r, c) in where.items():
        labels[r:r + 6, c:c + 6] = k
    return labels


def test_lvos_scores_agree_with_hand_computed_values(tmp_path):
    """Object 1, range 1..21 (frames 1, 6, 11, 16, 21): predicted exactly on 6 and 11, not at all on 16 and 21.
    Correct: frames 6-21, J = F = [1, 1, 0, 0]: mean 0.5, recall 0.5, decay 1, V = std([1, 1, 0, 0]) = 0.5.
    Official: frames 6, 11, 16 in frame_nums - 2 = 3 slots: mean 2/3, decay 0, V = sqrt(round(2/9, 4)).
    Object 2, range 11..21, absent from frame 16 (and not predicted there: J = F = 1), missed on 21."""
    shape = (24, 32)
    gt = {1: _square(shape, {1: (2, 2)}), 6: _square(shape, {1: (3, 3)}), 11: _square(shape, {1: (4, 4), 2: (12, 20)}),
          16: _square(shape, {1: (5, 5)}), 21: _square(shape, {1: (6, 6), 2: (14, 22)})}
    pred = {6: gt[6], 11: gt[11], 16: np.zeros(shape, np.uint8), 21: np.zeros(shape, np.uint8)}
    root = write_lvos(tmp_path / "lvos", {"v": ((21, shape), gt, {1: (1, 21, 5), 2: (11, 21, 3)})})
    out = tmp_path / "pred" / "v"
    out.mkdir(parents=True)
    for number in range(1, 22):
        write_label_png(out / f"{number:08d}.png", pred.get(number, np.zeros(shape, np.uint8)))

    def scores(protocol, meta_root=root):
        dataset = LVOSDataset(meta_root, protocol=protocol)
        result = score_jobs([sequence_job(dataset.sequence("v"), out, protocol=protocol)], workers=1, progress=False)
        return {o.name: o for o in result.objects}, result

    correct, result = scores("lvos")
    one, two = correct["v_1"], correct["v_2"]
    assert list(one.j) == [1, 1, 0, 0] and list(one.f) == [1, 1, 0, 0]
    assert (one.j_mean, one.j_recall, one.j_decay, one.v) == (0.5, 0.5, 1.0, 0.5)
    assert list(two.j) == [1, 0] and two.v == 0.5  # frame 16: absent and not predicted; frame 21 missed
    assert result.global_metrics()["V-Mean"] == 0.5
    early, late = result.by_time(2)  # halves of frames 1..21: object 1's frame 6; its 11, 16, 21 and object 2's
    assert early == 1.0 and math.isclose(late, (1 / 3 + 1 / 2) / 2)
    official, _ = scores("lvos_official")
    assert list(official["v_1"].j) == [1, 1, 0] and math.isclose(official["v_1"].j_mean, 2 / 3)
    assert official["v_1"].j_decay == 0 and official["v_1"].f_decay == 0
    assert official["v_1"].v == math.sqrt(round(2 / 9, 4))
    assert list(official["v_2"].j) == [1]  # 11..21: frame 16 only (the range's end is left out)

    def official_j_with(frame_nums):
        meta = json.loads((root / "meta.json").read_text())
        meta["videos"]["v"]["objects"]["1"]["frame_range"]["frame_nums"] = frame_nums
        (root / "meta.json").write_text(json.dumps(meta))
        result = scores("lvos_official")
        return list(result[0]["v_1"].j) if "v_1" in result[0] else result[1].unscored["v"]

    assert official_j_with(6) == [1, 1, 0, 0]  # one slot no frame fills: it counts 0
    assert official_j_with(4) == [1, 1]  # the toolkit skips walk position frame_nums - 1 (frame 16)
    assert "range(1, 21, 5) walks 4 frames: the official toolkit fails" in official_j_with(3)
    official_j_with(5)
    write_label_png(root / "Annotations" / "v" / "00000016.png", _square(shape, {1: (5, 5), 7: (14, 14)}))
    assert "00000016.png holds id(s) [7] that the meta file does not list" in scores("lvos")[1].unscored["v"]
    write_label_png(root / "Annotations" / "v" / "00000016.png", _square(shape, {1: (5, 5)}))
    write_label_png(root / "Annotations" / "v" / "00000006.png", _square(shape, {1: (3, 3), 2: (12, 20)}))
    assert ("00000006.png holds object 2, whose range in the meta file is 11..21: meta file and masks disagree"
            in scores("lvos")[1].unscored["v"])


@pytest.mark.slow
def test_eval_on_lvos_reports_v_and_seen_unseen(tmp_path, tiny_checkpoint):
    root = lvos_fixture(tmp_path / "lvos", require_shared())
    overrides = ["data=lvos", f"data.root={root}", "data.shorter_side=96", f"model.checkpoint={tiny_checkpoint}",
                 "logger=none", "workers=1", "inference=online"]
    metrics = evaluate(compose("eval", overrides + [f"output_dir={tmp_path / 'out'}"]))
    assert metrics["complete"] and metrics["scoring_protocol"] == "lvos" and metrics["scored_sequences"] == 2
    assert metrics["V-Mean"] >= 0 and metrics["unseen"]["J&F-Mean"] is not None and metrics["seen"]["V-Mean"] >= 0
    header = (tmp_path / "out" / "global_results-lvos.csv").read_text().splitlines()[0]
    assert header.endswith("F-Decay,V-Mean")
    rows = [r.split(",")[0] for r in (tmp_path / "out" / "per-sequence_results-lvos.csv").read_text().splitlines()[1:]]
    assert rows == ["bmx-trees_1", "bmx-trees_2", "dog_1"]
    dataset = LVOSDataset(root, protocol="lvos_official")
    official = score_jobs([sequence_job(dataset.sequence(name), tmp_path / "out" / "predictions" / name,
                                        protocol="lvos_official") for name in dataset.names], workers=1, progress=False)
    official = official.global_metrics()
    assert official["J-Decay"] == 0 and official["F-Decay"] == 0 and official["J-Mean"] != metrics["J-Mean"]


def _object(name, j, f):
    from stcnbuf.scoring.scorer import ObjectScore

    return ObjectScore(name, np.asarray(j, float), np.asarray(f, float))


def test_official_headline_figures_are_the_means_of_the_seen_and_unseen_groups():
    """evaluation_method.py: J&F = (J_seen + F_seen + J_unseen + F_unseen) / 4 and V = (V_seen + V_unseen) / 2,
    each group a mean over its objects (here 3 seen objects, 1 unseen: not the mean over all 4 objects)."""
    from stcnbuf.scoring.scorer import EvaluationResult, lvos_official_globals

    objects = [_object("a_1", [1.0, 0.5], [0.8, 0.6]), _object("a_2", [0.2, 0.2], [0.4, 0.0]),
               _object("b_1", [0.9, 0.9], [1.0, 1.0]), _object("u_1", [0.0, 0.4], [0.2, 0.2])]
    result = EvaluationResult(objects)
    j_seen, f_seen = (0.75 + 0.2 + 0.9) / 3, (0.7 + 0.2 + 1.0) / 3
    j_unseen, f_unseen = 0.2, 0.2
    v = {o.name: float(np.std((o.j + o.f) / 2)) for o in objects}   # 0.05, 0.1, 0.05, 0.1 (no rounding here)
    v_seen, v_unseen = (v["a_1"] + v["a_2"] + v["b_1"]) / 3, v["u_1"]
    figures = lvos_official_globals(result, ["u"])
    assert figures["J&F-Mean"] == pytest.approx((j_seen + f_seen + j_unseen + f_unseen) / 4)
    assert figures["J-Mean"] == pytest.approx((j_seen + j_unseen) / 2)
    assert figures["F-unseen-Mean"] == pytest.approx(f_unseen) and figures["J-seen-Mean"] == pytest.approx(j_seen)
    assert figures["V-Mean"] == pytest.approx((v_seen + v_unseen) / 2)
    assert figures["J&F-Mean"] != pytest.approx(result.global_metrics()["J&F-Mean"])   # not the object mean
    without = lvos_official_globals(result, [])                   # no unseen video: the toolkit prints NaN
    assert math.isnan(without["J&F-Mean"]) and math.isnan(without["V-Mean"])
    assert without["J-seen-Mean"] == pytest.approx((0.75 + 0.2 + 0.9 + 0.2) / 4)


def test_boundaries_are_the_toolkits_python_path_not_its_cython_op():
    """metrics.py: the Python path computes seg ^ e | seg ^ s | seg ^ se; the optional Cython op seg ^ (e | s | se).
    They differ on a foreground pixel whose right, lower and lower-right neighbours are not all alike."""
    from stcnbuf.scoring.metrics import seg2bmap

    seg = np.zeros((6, 6), bool)
    seg[1:4, 1:4] = True
    seg[3, 3] = False                       # a notch: (2, 2) has its lower-right neighbour outside
    e, s, se = (np.zeros_like(seg) for _ in range(3))
    e[:, :-1], s[:-1, :], se[:-1, :-1] = seg[:, 1:], seg[1:, :], seg[1:, 1:]

    def finish(b):
        b[-1, :], b[:, -1], b[-1, -1] = seg[-1, :] ^ e[-1, :], seg[:, -1] ^ s[:, -1], 0
        return b

    python = finish(seg ^ e | seg ^ s | seg ^ se)
    cython = finish(seg ^ (e | s | se))
    assert not np.array_equal(python, cython)
    assert np.array_equal(seg2bmap(seg).astype(bool), python)


def test_lvos_official_scored_by_eval_and_by_the_scoring_command_alike(tmp_path, tiny_checkpoint):
    """eval.py with data.protocol=lvos_official writes the toolkit's global columns (headline = seen/unseen
    means) and per-object rows named by meta position; the scoring command writes the same tables from the same
    predictions."""
    from stcnbuf.apps.score import main

    root = lvos_fixture(tmp_path / "lvos", require_shared())
    metrics = evaluate(compose("eval", ["data=lvos", f"data.root={root}", "data.protocol=lvos_official",
                                        "data.shorter_side=96", f"model.checkpoint={tiny_checkpoint}", "logger=none",
                                        "workers=1", f"output_dir={tmp_path / 'out'}"]))
    out = tmp_path / "out"
    header = (out / "global_results-lvos.csv").read_text().splitlines()[0].split(",")
    assert header == ["J&F-Mean", "J-Mean", "J-seen-Mean", "J-unseen-Mean", "F-Mean", "F-seen-Mean",
                      "F-unseen-Mean", "V-Mean", "V-seen-Mean", "V-unseen-Mean"]
    rows = [line.split(",") for line in (out / "per-sequence_results-lvos.csv").read_text().splitlines()]
    assert rows[0] == ["Sequence", "J-Mean", "F-Mean", "V-Mean"] and [r[0] for r in rows[1:]] == \
        ["bmx-trees_1", "bmx-trees_2", "dog_1"]
    per_object = {r[0]: (float(r[1]), float(r[2])) for r in rows[1:]}
    j_seen = (per_object["bmx-trees_1"][0] + per_object["bmx-trees_2"][0]) / 2
    assert metrics["J-seen-Mean"] == pytest.approx(j_seen)
    assert metrics["J-Mean"] == pytest.approx((j_seen + per_object["dog_1"][0]) / 2)
    assert metrics["J-Recall"] is None                      # the toolkit reports no recall
    scored = tmp_path / "scored"
    assert main(["--pred-root", str(out / "predictions"), "--out", str(scored), "data=lvos", f"data.root={root}",
                 "data.protocol=lvos_official"]) == 0
    for table in ("global_results-lvos.csv", "per-sequence_results-lvos.csv"):
        assert (scored / table).read_bytes() == (out / table).read_bytes()
    scores = json.loads((scored / "scores.json").read_text())
    assert scores["J&F-Mean"] == metrics["J&F-Mean"] and scores["unseen"] == metrics["unseen"]
    (root / "unseen_videos.txt").unlink()                   # no unseen group: the toolkit's globals are NaN
    assert main(["--pred-root", str(out / "predictions"), "--out", str(tmp_path / "nan"), "data=lvos",
                 f"data.root={root}", "data.protocol=lvos_official"]) == 0
    nan = json.loads((tmp_path / "nan" / "scores.json").read_text())
    assert nan["J&F-Mean"] is None and nan["J-seen-Mean"] is not None and "unseen" not in nan
    assert "data.unseen" in nan["scoring_notes"]["(all)"]
