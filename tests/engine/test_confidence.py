import pytest
import torch

from stcnbuf.engine.confidence import object_confidence
from stcnbuf.engine.prediction import Prediction


def hand_made_probs():
    # four pixels; channels: background, object 1, object 2, object 3
    return torch.tensor([[0.1, 0.8, 0.1, 0.0],
                         [0.2, 0.6, 0.2, 0.0],
                         [0.3, 0.2, 0.4, 0.1],
                         [0.6, 0.1, 0.2, 0.1]]).T.reshape(4, 1, 4)


def test_confidence_of_hand_made_probabilities():
    # object 1 wins pixels 0, 1: inside 0.8 + 0.6 = 1.4, outside 0.2 + 0.1 = 0.3 -> 1.4 / (2 + 0.3)
    # object 2 wins pixel 2: inside 0.4, outside 0.1 + 0.2 + 0.2 = 0.5 -> 0.4 / (1 + 0.5)
    # object 3 wins no pixel: 0
    confidence = object_confidence(hand_made_probs())
    assert confidence.tolist() == pytest.approx([1.4 / 2.3, 0.4 / 1.5, 0.0])


def test_certain_masks_score_one_and_an_object_seen_twice_scores_less():
    certain = torch.zeros(2, 2, 3)
    certain[0, 0], certain[1, 1] = 1, 1
    assert object_confidence(certain).tolist() == [1.0]
    doubled = certain.clone()
    doubled[:, 0, 0] = torch.tensor([0.55, 0.45])  # a second place with almost half the probability
    assert object_confidence(doubled).tolist() == pytest.approx([3 / 3.45])


def test_prediction_confidence_by_id_once_and_in_low_precision():
    probs = hand_made_probs()
    prediction = Prediction.from_probs(7, [5, 9, 2], probs.to(torch.bfloat16))
    first = prediction.confidence()
    assert list(first) == [5, 9, 2] and first[5] == pytest.approx(1.4 / 2.3, abs=0.01)
    prediction.probs = torch.zeros_like(prediction.probs)  # computed once: the first result stays
    assert prediction.confidence() == first
    with pytest.raises(ValueError, match=r"\[K\+1, H, W\]"):
        object_confidence(torch.zeros(3, 4))
