"""The table of depths: which unit and how many units per stage each ResNet uses.

ImageNet depths follow Table 1 of He et al., "Deep Residual Learning for Image
Recognition" (2016) [1], plus the 200-layer net of He et al., "Identity Mappings in
Deep Residual Networks" (2016) [2] (footnote 3: 16 more bottleneck units than
ResNet-152, all on the 28x28 feature map). CIFAR depths follow Sec. 4.2 of [1]
(6n+2 layers, n basic units per stage) and the appendix of [2] (9n+2 layers, n
bottleneck units per stage: ResNet-164 and ResNet-1001).

This module holds plain data and depth arithmetic only; nothing here builds layers.
"""

import dataclasses

from keras_preact.utils.checks import check_choice, is_integer

FAMILIES = ("imagenet", "cifar")
BLOCKS = ("basic", "bottleneck")

# Convolutions per unit, for depth = sum(units) * layers + 2 (conv1 and the classifier).
LAYERS_PER_UNIT = {"basic": 2, "bottleneck": 3}
# Channels of the bottleneck output relative to its 3x3 width ([1], Fig. 5).
BOTTLENECK_EXPANSION = 4


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """One row of the table: a network family at one depth.

    Attributes:
        family: "imagenet" (7x7/2 stem + max-pool, four stages) or "cifar"
            (3x3 stem, three stages).
        depth: number of weight layers, conv1 and the classifier included.
        block: "basic" (two 3x3 convs) or "bottleneck" (1x1, 3x3, 1x1).
        stage_units: residual units in each stage.
        stage_widths: width of the 3x3 convolutions of each stage; a bottleneck
            unit's output has `BOTTLENECK_EXPANSION` times as many channels.
        stem_width: filters of conv1.
    """

    family: str
    depth: int
    block: str
    stage_units: tuple
    stage_widths: tuple
    stem_width: int

    def output_width(self, stage_index):
        """Channels a unit of stage `stage_index` (0-based) outputs."""
        expansion = BOTTLENECK_EXPANSION if self.block == "bottleneck" else 1
        return self.stage_widths[stage_index] * expansion


IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)

# depth: (block, units per stage). [1] Table 1; 200 from [2] footnote 3.
IMAGENET_DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
    200: ("bottleneck", (3, 24, 36, 3)),
}

# The CIFAR depths that get a named builder; any other valid depth works through
# `build_resnet(depth, family="cifar")`. [1] Table 6 and [2] Tables 3-4.
CIFAR_NAMED_DEPTHS = (20, 32, 44, 56, 110, 1202, 164, 1001)  # basic, then bottleneck

# From this depth on, a CIFAR depth that is both 6n+2 and 9n+2 (e.g. 164 = 6*27+2
# = 9*18+2) is read as bottleneck, as in [2]; below it (20, 56, 110) as basic, as in [1].
CIFAR_BOTTLENECK_FROM = 164


def _cifar_depth_error(depth, block=None):
    shown = f"depth={depth!r}" + ("" if block is None else f", block={block!r}")
    return ValueError(
        f"Received: {shown}. CIFAR depths are 6n+2 with basic units "
        "(20, 32, 44, 56, 110, 1202, ...) or 9n+2 with bottleneck units "
        "(164, 1001, ...), n >= 1."
    )


def _cifar_block_for(depth):
    """The block a CIFAR depth implies (see CIFAR_BOTTLENECK_FROM)."""
    fits = [b for b in BLOCKS if (depth - 2) % (3 * LAYERS_PER_UNIT[b]) == 0]
    if not fits:
        raise _cifar_depth_error(depth)
    if len(fits) == 2:
        return "bottleneck" if depth >= CIFAR_BOTTLENECK_FROM else "basic"
    return fits[0]


def get_spec(depth, family="imagenet", block=None):
    """Returns the `ResNetSpec` of a family at a depth.

    Args:
        depth: number of weight layers (e.g. 50 for ImageNet, 110 for CIFAR).
        family: "imagenet" or "cifar".
        block: None to take the block the depth implies, or "basic" /
            "bottleneck" to choose it where a CIFAR depth fits both (20, 56, 110,
            164, ...). For ImageNet it must agree with the table.

    Returns:
        The `ResNetSpec`.

    Raises:
        ValueError: for an unknown family or block, or a depth the family does
            not define; the message lists the valid depths.
    """
    check_choice("family", family, FAMILIES)
    if block is not None and block not in BLOCKS:
        raise ValueError(f"Received: block={block!r}; expected None or one of {BLOCKS}.")
    if not is_integer(depth):
        raise ValueError(f"Received: depth={depth!r}; depth must be an int.")
    if family == "imagenet":
        if depth not in IMAGENET_DEPTHS:
            raise ValueError(f"Received: depth={depth!r}; ImageNet depths are {sorted(IMAGENET_DEPTHS)}.")
        table_block, units = IMAGENET_DEPTHS[depth]
        if block not in (None, table_block):
            raise ValueError(
                f"Received: depth={depth}, block={block!r}; ImageNet ResNet-{depth} uses {table_block!r} units."
            )
        return ResNetSpec("imagenet", depth, table_block, units, IMAGENET_WIDTHS, 64)
    if block is None:
        block = _cifar_block_for(depth)
    per_stage, remainder = divmod(depth - 2, 3 * LAYERS_PER_UNIT[block])
    if remainder or per_stage < 1:
        raise _cifar_depth_error(depth, block)
    return ResNetSpec("cifar", depth, block, (per_stage,) * 3, CIFAR_WIDTHS, 16)
