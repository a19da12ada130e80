import json

import torch
import torch.nn.functional as F

from stcnbuf.engine.model import STCN, aggregate
from stcnbuf.engine.model.blocks import ResBlock
from tests.conftest import REPO, tiny_net

FIXTURE = REPO / "tests" / "fixtures" / "stcn_state_dict_shapes.json"


def test_state_dict_matches_released_checkpoint_layout():
    reference = json.loads(FIXTURE.read_text())
    state = STCN().state_dict()
    assert len(reference) == 405
    assert list(state) == list(reference)
    assert {k: list(v.shape) for k, v in state.items()} == reference


def test_resblock_concat_equals_plain_block_on_concatenation():
    torch.manual_seed(0)
    block = ResBlock(24, 16)
    x, shared = torch.randn(6, 8, 5, 7), torch.randn(2, 16, 5, 7)
    full = torch.cat([x, shared.repeat_interleave(3, 0)], 1)
    torch.testing.assert_close(block.forward_concat(x, shared, 3), block(full), atol=1e-5, rtol=1e-5)
    same_width = ResBlock(24, 24)
    torch.testing.assert_close(same_width.forward_concat(x, shared, 3), same_width(full), atol=1e-5, rtol=1e-5)


def test_objects_are_decoded_and_encoded_independently():
    """Sharing the object-independent half of the computation must not couple objects."""
    net = tiny_net()
    image = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        k16, f16_thin, f16, f8, f4 = net.encode_key(image)
        assert k16.shape == (1, 16, 4, 6) and f16.shape == (1, 256, 4, 6)
        assert f8.shape == (1, 128, 8, 12) and f4.shape == (1, 64, 16, 24)
        readout = torch.randn(1, 3, 32, 4, 6)
        together = net.decode(readout, f16_thin, f8, f4)
        assert together.shape == (1, 3, 64, 96)
        for k in range(3):
            alone = net.decode(readout[:, k:k + 1], f16_thin, f8, f4)
            torch.testing.assert_close(together[:, k:k + 1], alone, atol=1e-5, rtol=1e-4)
        masks = torch.rand(1, 2, 64, 96)
        values = net.encode_value(image, f16, masks)
        assert values.shape == (1, 2, 32, 4, 6)
        # object 0 sees (mask 0, mask 1) as (own, others): the same as a single-object call with that input
        net_first_conv = net.value_encoder.conv1
        naive = F.conv2d(torch.cat([image, masks[:, :1], masks[:, 1:]], 1), net_first_conv.weight,
                         net_first_conv.bias, 2, 3)
        split = F.conv2d(torch.cat([masks[:, :1], masks[:, 1:]], 1), net_first_conv.weight[:, 3:], None, 2, 3) + \
            F.conv2d(image, net_first_conv.weight[:, :3], net_first_conv.bias, 2, 3)
        torch.testing.assert_close(naive, split, atol=1e-5, rtol=1e-5)


def test_batched_frames_match_single_frames():
    net = tiny_net()
    images = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        batched = net.encode_key(images)
        for b in range(2):
            single = net.encode_key(images[b:b + 1])
            for x, y in zip(batched, single):
                torch.testing.assert_close(x[b:b + 1], y, atol=1e-5, rtol=1e-4)


def test_aggregate_is_a_distribution_with_background_first():
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.0]]).view(2, 1, 2)
    out = aggregate(probs, 0)
    assert out.shape == (3, 1, 2)
    torch.testing.assert_close(out.sum(0), torch.ones(1, 2))
    assert out[1, 0, 0] > 0.8 and out[0, 0, 1] > 0.8
    one_hot = torch.tensor([[1.0, 0.0]]).view(1, 1, 2)
    assert torch.equal(aggregate(one_hot, 0).argmax(0), torch.tensor([[1, 0]]))
