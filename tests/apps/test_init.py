"""Initial masks: Mask R-CNN loading and proposals, filtering, label maps, click selection (headless)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from stcnbuf.apps.segment.proposals import (COCO_CATEGORIES, ClickSelector, Proposals, filter_proposals, load_maskrcnn,
                                            proposal_at, proposals_to_label_map, propose, selection_from_clicks,
                                            toggle_selection)
from stcnbuf.engine.checkpoint import CheckpointError
from tests.conftest import SHARED_DATA

BLACKSWAN = SHARED_DATA / "davis2016" / "JPEGImages" / "480p" / "blackswan" / "00000.jpg"
PERSON, DOG = COCO_CATEGORIES.index("person"), COCO_CATEGORIES.index("dog")


def box(height: int, width: int, top: int, left: int, bottom: int, right: int, value: float = 1.0) -> np.ndarray:
    mask = np.zeros((height, width), np.float32)
    mask[top:bottom, left:right] = value
    return mask


def make(masks, scores, labels) -> Proposals:
    return Proposals(np.stack(masks), np.asarray(scores, np.float32), np.asarray(labels))


# ------------------------------------------------------------------------------------------------ Mask R-CNN


def test_coco_categories():
    assert len(COCO_CATEGORIES) == 91
    assert COCO_CATEGORIES[0] == "__background__" and COCO_CATEGORIES[1] == "person"
    p = make([box(4, 4, 0, 0, 2, 2)] * 2, [0.9, 0.8], [PERSON, DOG])
    assert p.category_names() == ["person", "dog"]


def test_load_maskrcnn_and_propose(tmp_path):
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    if not BLACKSWAN.is_file():
        pytest.skip(f"real test frame not found at {BLACKSWAN} (the shared data folder is absent)")
    from stcnbuf.io.masks import read_image
    import cv2

    torch.manual_seed(0)
    file = tmp_path / "maskrcnn.pth"
    torch.save(maskrcnn_resnet50_fpn(weights=None, weights_backbone=None).state_dict(), file)
    model = load_maskrcnn(file)
    assert not model.training

    frame = cv2.resize(read_image(BLACKSWAN), (240, 160), interpolation=cv2.INTER_AREA)
    # Keep the CPU forward pass short: no upscaling to 800 pixels, few detections (random weights give many).
    model.transform.min_size, model.transform.max_size = (160,), 240
    model.roi_heads.detections_per_img = 8
    proposals = propose(model, frame)  # random weights: possibly no detections at all
    assert len(proposals) <= 8
    n = len(proposals)
    assert proposals.masks.shape == (n, 160, 240) and proposals.masks.dtype == np.float32
    assert proposals.scores.shape == (n,) and proposals.labels.shape == (n,)
    if n:
        assert 0.0 <= proposals.masks.min() and proposals.masks.max() <= 1.0
    everything = filter_proposals(proposals, classes=None, score_threshold=0.0)
    assert len(everything) == n and np.all(np.diff(everything.scores) <= 0)
    labels, ids = proposals_to_label_map(everything, min_area=4)
    assert labels.shape == (160, 240) and labels.dtype == np.uint8
    assert set(np.unique(labels)) <= {0, *ids} and ids == list(range(1, len(ids) + 1))


def test_missing_weights_file_says_where_to_put_them(tmp_path):
    with pytest.raises(CheckpointError) as error:
        load_maskrcnn(tmp_path / "absent.pth")
    message = str(error.value)
    assert "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth" in message and "init.weights" in message
    assert "download.pytorch.org" in message


def test_wrong_weights_file_is_refused(tmp_path):
    from torchvision.models import resnet18

    file = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), file)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_maskrcnn(file)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_maskrcnn(tmp_path / "junk.pth")


# ------------------------------------------------------------------------------------------------ filtering


def test_filter_proposals():
    m = box(8, 8, 0, 0, 4, 4)
    p = make([m] * 5, [0.6, 0.95, 0.8, 0.9, 0.75], [PERSON, PERSON, DOG, PERSON, PERSON])
    persons = filter_proposals(p)  # person, score >= 0.7, best first
    assert persons.scores.tolist() == pytest.approx([0.95, 0.9, 0.75])
    assert set(persons.labels.tolist()) == {PERSON}
    assert filter_proposals(p, classes=["dog"]).scores.tolist() == pytest.approx([0.8])
    assert filter_proposals(p, classes="dog", score_threshold=0.85).scores.size == 0
    top2 = filter_proposals(p, classes=None, score_threshold=0.0, max_objects=2)
    assert top2.scores.tolist() == pytest.approx([0.95, 0.9])
    assert len(filter_proposals(p, classes=None, score_threshold=0.0)) == 5
    assert len(filter_proposals(p, classes=None, score_threshold=0.8)) == 3  # threshold is inclusive
    with pytest.raises(ValueError, match="valid names.*person"):
        filter_proposals(p, classes=["persn"])


# ------------------------------------------------------------------------------------------------ label maps


def test_overlaps_go_to_the_higher_soft_value():
    a = box(20, 30, 2, 2, 12, 16, 0.9)
    b = box(20, 30, 6, 10, 18, 28, 0.6)
    b[6:12, 10:16] = 0.95  # in the overlap, b is more confident although its score is lower
    labels, ids = proposals_to_label_map(make([b, a], [0.5, 0.9], [PERSON, PERSON]), cleanup=False)
    assert ids == [1, 2]
    assert (labels == 1).sum() == 10 * 14 - 6 * 6  # id 1 = a (higher score), minus the overlap
    assert np.all(labels[6:12, 10:16] == 2) and labels[3, 3] == 1 and labels[17, 27] == 2
    # Equal soft values: the higher score wins.
    c = box(20, 30, 6, 10, 18, 28, 0.9)
    labels, _ = proposals_to_label_map(make([c, a], [0.5, 0.9], [PERSON, PERSON]), cleanup=False)
    assert np.all(labels[6:12, 10:16] == 1)
    # Below the mask threshold nothing is claimed.
    labels, ids = proposals_to_label_map(make([box(20, 30, 0, 0, 5, 5, 0.4)], [0.9], [PERSON]))
    assert ids == [] and labels.max() == 0


def test_cleanup_speck_hole_and_small_objects():
    big = box(40, 40, 5, 5, 30, 30)
    big[15:18, 15:18] = 0.0          # a small hole
    big[35:37, 35:37] = 1.0          # a detached speck
    tiny = box(40, 40, 33, 2, 35, 4)  # 4 pixels
    p = make([tiny, big], [0.99, 0.8], [PERSON, PERSON])

    raw, ids = proposals_to_label_map(p, cleanup=False)
    assert ids == [1, 2] and raw[16, 16] == 0 and raw[36, 36] == 2 and raw[34, 3] == 1

    clean, ids = proposals_to_label_map(p, min_area=5)
    assert ids == [1]                                 # the 4-pixel object is dropped, ids renumbered
    assert clean[16, 16] == 1 and clean[36, 36] == 0 and clean[34, 3] == 0
    assert (clean == 1).sum() == 25 * 25
    # A large enclosed hole is no "small hole": a ring stays a ring.
    ring = box(40, 40, 5, 5, 35, 35)
    ring[10:30, 10:30] = 0.0
    labels, _ = proposals_to_label_map(make([ring], [0.9], [PERSON]))
    assert labels[20, 20] == 0
    # Holes are not filled over another object inside them.
    inner = box(40, 40, 15, 15, 18, 18)
    labels, _ = proposals_to_label_map(make([big, inner], [0.8, 0.7], [PERSON, DOG]))
    assert np.all(labels[15:18, 15:18] == 2)


def test_ids_follow_score_order():
    masks = [box(10, 30, 0, 10 * k, 10, 10 * k + 10) for k in range(3)]
    labels, ids = proposals_to_label_map(make(masks, [0.5, 0.9, 0.7], [PERSON] * 3))
    assert ids == [1, 2, 3]
    assert labels[5, 15] == 1 and labels[5, 25] == 2 and labels[5, 5] == 3
    labels, _ = proposals_to_label_map(make(masks, [0.5, 0.9, 0.7], [PERSON] * 3), sort_by_score=False)
    assert labels[5, 5] == 1 and labels[5, 15] == 2 and labels[5, 25] == 3


# ------------------------------------------------------------------------------------------------ selection


def nested() -> Proposals:
    person = box(30, 40, 2, 2, 28, 20)
    bag = box(30, 40, 10, 5, 15, 10)
    dog = box(30, 40, 20, 25, 28, 38)
    return make([person, bag, dog], [0.9, 0.6, 0.8], [PERSON, COCO_CATEGORIES.index("handbag"), DOG])


def test_proposal_at():
    p = nested()
    assert proposal_at(p, 7, 12) == 1          # inside both person and bag: the smaller one
    assert proposal_at(p, 3, 3) == 0
    assert proposal_at(p, 30, 25) == 2
    assert proposal_at(p, 30, 5) is None       # background
    assert proposal_at(p, -3, 5) is None and proposal_at(p, 10, 40) is None  # outside the image
    assert proposal_at(p, 19.4, 5) == 0 and proposal_at(p, 19.6, 5) is None  # pixel centres at integers
    same = make([box(10, 10, 0, 0, 5, 5)] * 2, [0.3, 0.7], [PERSON, DOG])
    assert proposal_at(same, 2, 2) == 1        # equal areas: the higher score


def test_toggle_and_clicks():
    assert toggle_selection([], 2) == [2]
    assert toggle_selection([2, 0], 2) == [0]
    assert toggle_selection([2], None) == [2]
    selected = [1]
    toggle_selection(selected, 3)
    assert selected == [1]  # a new list, the input is untouched
    p = nested()
    assert selection_from_clicks(p, [(30, 25), (3, 3), (30, 5), (7, 12), (30, 25)]) == [0, 1]


# ------------------------------------------------------------------------------------------------ window


def test_click_selector_headless():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backend_bases import KeyEvent, MouseEvent

    p = nested()
    frame = np.full((30, 40, 3), 100, np.uint8)
    selector = ClickSelector(frame, p)
    fig, ax = selector.figure, selector.ax
    try:
        fig.canvas.draw()
        before = selector.image.get_array().copy()

        def click(x, y, button=1):
            x_display, y_display = ax.transData.transform((x, y))
            event = MouseEvent("button_press_event", fig.canvas, x_display, y_display, button=button)
            fig.canvas.callbacks.process("button_press_event", event)

        def key(name):
            fig.canvas.callbacks.process("key_press_event", KeyEvent("key_press_event", fig.canvas, name))

        assert "0 selected" in fig._suptitle.get_text()
        click(30, 25)                            # dog
        click(3, 3)                              # person
        assert selector.selected == [2, 0]
        assert "2 selected" in fig._suptitle.get_text()
        shown = np.asarray(selector.image.get_array())
        assert not np.array_equal(shown[25, 30], before[25, 30]) and not np.array_equal(shown[5, 5], before[5, 5])
        assert np.array_equal(shown[5, 35], before[5, 35])  # background untouched
        click(30, 25)                            # dog again: unselected
        click(35, 5)                             # background: nothing
        click(3, 3, button=3)                    # right click: ignored
        assert selector.selected == [0]
        assert "1 selected" in fig._suptitle.get_text()
        assert np.array_equal(np.asarray(selector.image.get_array())[25, 30], before[25, 30])
        key("escape")
        assert selector.selected == []
        click(7, 12)                             # the bag inside the person
        key("enter")
        assert selector.finished and selector.selected == [1]
        click(3, 3)                              # after Enter clicks change nothing
        assert selector.selected == [1]
    finally:
        selector.close()


def test_run_needs_a_display():
    import matplotlib

    matplotlib.use("Agg")
    selector = ClickSelector(np.zeros((30, 40, 3), np.uint8), nested())
    with pytest.raises(RuntimeError, match=r"display.*init=maskrcnn.*init\.clicks"):
        selector.run()


def test_clicks_that_miss_every_proposal_say_so(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    import stcnbuf.apps.segment.proposals.maskrcnn as maskrcnn
    from stcnbuf.datasets.video import VideoSource
    from stcnbuf.apps.segment.initial import initial_annotations
    from tests.conftest import require_shared

    source = VideoSource(require_shared("videos", "blackswan.mp4"), shorter_side=64)
    height, width = source.working_size
    found = make([box(height, width, 10, 10, 30, 30)], [0.9], [PERSON])
    monkeypatch.setattr(maskrcnn, "load_maskrcnn", lambda weights, device: None)
    monkeypatch.setattr(maskrcnn, "propose", lambda model, frame, device: found)
    init = OmegaConf.create({"method": "click", "frame": 0, "weights": "w.pth", "classes": None,
                             "score_threshold": 0.5, "max_objects": None, "mask_threshold": 0.5, "cleanup": False,
                             "min_area": 0, "clicks": [[100, 50]]})
    with pytest.raises(ValueError, match=r"1 proposal\(s\) passed .*, but the clicks init.clicks=\[\[100, 50\]\] "
                                         r"select none of them"):
        initial_annotations(init, source)
    init.clicks = [[20, 20]]
    assert initial_annotations(init, source)[0].object_ids == [1]
