"""The depth table and the CIFAR depth arithmetic."""

import pytest

from keras_preact.models import specs


@pytest.mark.parametrize(
    "depth, block, units",
    [
        (18, "basic", (2, 2, 2, 2)),
        (34, "basic", (3, 4, 6, 3)),
        (50, "bottleneck", (3, 4, 6, 3)),
        (101, "bottleneck", (3, 4, 23, 3)),
        (152, "bottleneck", (3, 8, 36, 3)),
        (200, "bottleneck", (3, 24, 36, 3)),
    ],
)
def test_imagenet_depths_follow_the_papers_tables(depth, block, units):
    spec = specs.get_spec(depth, "imagenet")
    assert (spec.block, spec.stage_units, spec.stage_widths) == (block, units, (64, 128, 256, 512))
    assert sum(units) * specs.LAYERS_PER_UNIT[block] + 2 == depth


@pytest.mark.parametrize(
    "depth, block, n",
    [
        (20, "basic", 3),
        (32, "basic", 5),
        (44, "basic", 7),
        (56, "basic", 9),
        (110, "basic", 18),
        (1202, "basic", 200),
        (164, "bottleneck", 18),
        (1001, "bottleneck", 111),
        (8, "basic", 1),
        (11, "bottleneck", 1),
        (29, "bottleneck", 3),
    ],
)
def test_cifar_depths_resolve_to_6n_plus_2_or_9n_plus_2(depth, block, n):
    spec = specs.get_spec(depth, "cifar")
    assert (spec.block, spec.stage_units, spec.stage_widths) == (block, (n,) * 3, (16, 32, 64))


def test_a_depth_that_fits_both_blocks_can_be_chosen_explicitly():
    assert specs.get_spec(110, "cifar", "bottleneck").stage_units == (12, 12, 12)
    assert specs.get_spec(164, "cifar", "basic").stage_units == (27, 27, 27)


@pytest.mark.parametrize("depth", [57, 9, 2, 0, -4])
def test_invalid_cifar_depth_names_the_valid_forms(depth):
    with pytest.raises(ValueError, match=rf"depth={depth}.*6n\+2.*9n\+2"):
        specs.get_spec(depth, "cifar")


def test_cifar_depth_that_does_not_fit_the_chosen_block():
    with pytest.raises(ValueError, match=r"depth=1001, block='basic'"):
        specs.get_spec(1001, "cifar", "basic")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"depth": 19, "family": "imagenet"}, r"depth=19; ImageNet depths are \[18, 34, 50, 101, 152, 200\]"),
        ({"depth": 50, "family": "svhn"}, r"family='svhn'"),
        ({"depth": 50, "family": "imagenet", "block": "basic"}, r"uses 'bottleneck'"),
        ({"depth": 20, "family": "cifar", "block": "wide"}, r"block='wide'"),
        ({"depth": 20.0, "family": "cifar"}, r"depth=20.0"),
    ],
)
def test_spec_errors_echo_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        specs.get_spec(**kwargs)
