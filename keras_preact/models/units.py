"""Residual units of He et al., "Identity Mappings in Deep Residual Networks" (2016) [2].

A unit computes y_l = h(x_l) + F(x_l, W_l) and x_{l+1} = f(y_l) (Eqns. 1-2 of [2]).
Every variant the paper studies is a parameter of one unit function, not a copy:

* `activation_order` places BN and ReLU around the weight layers (Fig. 4, Table 2):
  "original" (a: conv-BN-ReLU-conv-BN, add, ReLU), "bn_after_addition" (b),
  "relu_before_addition" (c), "relu_only_preact" (d) and "full_preact" (e:
  BN-ReLU-conv-BN-ReLU-conv, add; f is the identity, so Eqns. 4-5 hold exactly).
* `shortcut` chooses h (Fig. 2, Table 1): "identity", "constant_scaling" (h = lambda x,
  F optionally scaled by 1 - lambda, Eqn. 6), "exclusive_gating" and
  "shortcut_only_gating" (g(x) = sigmoid(W_g x + b_g) from a 1x1 conv),
  "conv1x1" (a 1x1 conv shortcut on every unit) and "dropout" (on the shortcut).
* `downsample_shortcut` chooses h where a unit changes shape: "projection" (1x1 conv
  with the stride, option B of [1]), "zero_pad" (parameter-free subsampling and
  zero channels, option A of [1]) or, in pre-activation units, "input_projection"
  (the 1x1 conv reads the unit input before its pre-activation and is followed by BN:
  fb.resnet.torch's first pre-activation code, in which its released ResNet-200 was
  trained; not the paper's appendix).

In pre-activation units (orders d and e) any shortcut that is not the identity reads
the pre-activated tensor, as the appendix of [2] prescribes for projections; the
identity shortcut is the unit input itself. A gate g(x) reads what the residual
branch reads (the unit input in post-activation units, its pre-activation otherwise).
In post-activation orders a shortcut conv is followed by BN, as every weight layer
there is (Fig. 2 caption).

Two training options beyond [2], off by default (what timm users expect):

* `drop_path_rate`: stochastic depth (Huang et al. 2016). The addition becomes
  `DropPathAdd`, h + F with F (after any residual scaling) dropped per sample, one layer
  so that weights files of the model without drop path still load. The gating
  shortcuts refuse it: their gate already weighs F per unit, and a dropped F would
  leave (1 - g) * h, not h.
* `zero_init_residual`: F starts at zero (Goyal et al. 2017, timm's `zero_init_last`),
  so each unit starts as its shortcut. Where the order puts BN after the last conv
  (Fig. 4(a), (c), (d)) that BN's gamma starts at 0, else (Fig. 4(b), (e)) the last
  conv's kernel (`ActivationOrder.zero_init_layer`).

Where the stride sits: in the first unit of a downsampling stage, on the first 3x3
conv of a basic unit, and on the 3x3 conv of a bottleneck unit (fb.resnet.torch,
timm: `stride_on="3x3"`, the default). The authors' CIFAR bottleneck code
(resnet-1k-layers) strides the first 1x1 conv instead (`stride_on="1x1"`). Both have
the same parameters; the 1x1 choice skips three quarters of the input positions.
"""

import dataclasses

from keras import initializers, layers

from keras_preact.models.layers import CONV_INITIALIZER, DropPathAdd, GatedAdd, LayerFactory, ZeroPadShortcut
from keras_preact.models.specs import BOTTLENECK_EXPANSION
from keras_preact.utils.checks import check_choice, check_rate


@dataclasses.dataclass(frozen=True)
class ActivationOrder:
    """Where BN ("bn") and ReLU ("relu") sit in a unit, one row of Table 2 of [2].

    Attributes:
        before_conv: applied before every weight layer (pre-activation).
        after_conv: applied after every weight layer but the last.
        after_last_conv: applied after the last weight layer, before the addition.
        after_addition: f, applied after the addition.
        version: 1 for post-activation orders, 2 for pre-activation ones.
    """

    before_conv: tuple
    after_conv: tuple
    after_last_conv: tuple
    after_addition: tuple
    version: int

    @property
    def shortcut_conv_bn(self):
        """Whether a shortcut conv is followed by BN, like the order's weight layers."""
        return "bn" in self.after_conv

    @property
    def zero_init_layer(self):
        """What `zero_init_residual` zeroes so that F starts at 0: "bn" (the gamma of
        the BN after the last conv) where the order has one, else "conv" (the last
        conv's kernel; a BN after the addition would zero the whole unit)."""
        return "bn" if "bn" in self.after_last_conv else "conv"


ACTIVATION_ORDERS = {
    "original": ActivationOrder((), ("bn", "relu"), ("bn",), ("relu",), 1),  # Fig. 4(a)
    "bn_after_addition": ActivationOrder((), ("bn", "relu"), (), ("bn", "relu"), 1),  # 4(b)
    "relu_before_addition": ActivationOrder((), ("bn", "relu"), ("bn", "relu"), (), 1),  # 4(c)
    "relu_only_preact": ActivationOrder(("relu",), ("bn",), ("bn",), (), 2),  # Fig. 4(d)
    "full_preact": ActivationOrder(("bn", "relu"), (), (), (), 2),  # Fig. 4(e)
}
DEFAULT_ORDER = {1: "original", 2: "full_preact"}

# Each shortcut kind and the options it takes, with their defaults (Table 1 of [2]).
SHORTCUTS = {
    "identity": {},
    "constant_scaling": {"scale": 0.5, "scale_residual": False},
    "exclusive_gating": {"gate_bias": -6.0},
    "shortcut_only_gating": {"gate_bias": -6.0},
    "conv1x1": {},
    "dropout": {"rate": 0.5},
}
GATING_SHORTCUTS = ("exclusive_gating", "shortcut_only_gating")
DOWNSAMPLE_SHORTCUTS = ("projection", "zero_pad", "input_projection")
STRIDE_POSITIONS = ("3x3", "1x1")


def resolve_shortcut_options(shortcut, shortcut_options=None):
    """Validates a shortcut kind and fills in its option defaults.

    Raises:
        ValueError: for an unknown kind, or an option the kind does not take.
    """
    check_choice("shortcut", shortcut, SHORTCUTS)
    options = dict(shortcut_options or {})
    unknown = sorted(set(options) - set(SHORTCUTS[shortcut]), key=repr)
    if unknown:
        raise ValueError(
            f"Received: shortcut_options={shortcut_options!r}; shortcut={shortcut!r} takes "
            f"{sorted(SHORTCUTS[shortcut]) or 'no options'}, not {unknown}."
        )
    return {**SHORTCUTS[shortcut], **options}


def check_drop_path(drop_path_rate, shortcut):
    """Returns `drop_path_rate` as a float.

    Raises:
        ValueError: unless it is a float in [0, 1), and 0 with a gating shortcut.
    """
    rate = check_rate("drop_path_rate", drop_path_rate)
    if rate > 0 and shortcut in GATING_SHORTCUTS:
        raise ValueError(
            f"Received: drop_path_rate={drop_path_rate!r} with shortcut={shortcut!r}; drop path "
            f"applies to the plain addition h + F, expected drop_path_rate=0 with {GATING_SHORTCUTS}."
        )
    return rate


def activate(x, ops, prefix, suffix, factory, zero_gamma=False):
    """Applies BN/ReLU in the order given, naming them f"{prefix}_bn{suffix}" etc.;
    with `zero_gamma` the BN's gamma starts at 0 (`zero_init_residual`)."""
    for op in ops:
        if op == "bn":
            init = {"gamma_initializer": "zeros"} if zero_gamma else {}
            x = factory.bn(name=f"{prefix}_bn{suffix}", **init)(x)
        else:
            x = factory.relu(name=f"{prefix}_relu{suffix}")(x)
    return x


def _branch(preact, convs, name, order, zero_init, factory):
    """The residual branch F(x_l, W_l): the weight layers with the order's BN and ReLU.

    With `zero_init`, the layer that `order.zero_init_layer` names starts at zero.
    """
    y = preact
    for k, (kernel_size, width, strides) in enumerate(convs, 1):
        last = k == len(convs)
        if k > 1:
            y = activate(y, order.before_conv, name, k, factory)
        zero_conv = zero_init and last and order.zero_init_layer == "conv"
        y = factory.conv(y, width, kernel_size, strides, f"{name}_conv{k}", "zeros" if zero_conv else None)
        zero_bn = zero_init and last and order.zero_init_layer == "bn"
        y = activate(y, order.after_last_conv if last else order.after_conv, name, k, factory, zero_bn)
    return y


def _shortcut(x, preact, filters, strides, order, kind, options, downsample, name, factory):
    """The shortcut path h(x_l), before any gating."""
    changes_shape = strides > 1 or factory.channels(x) != filters
    if kind == "conv1x1" or (changes_shape and downsample != "zero_pad"):
        before_preact = downsample == "input_projection"
        h = factory.conv(x if before_preact else preact, filters, 1, strides, name=f"{name}_shortcut_conv")
        if order.shortcut_conv_bn or before_preact:
            h = factory.bn(name=f"{name}_shortcut_bn")(h)
    elif changes_shape:
        h = ZeroPadShortcut(filters, strides, factory.data_format, name=f"{name}_shortcut_pad")(preact)
    else:
        h = x  # the identity shortcut is the unit input itself
    if kind == "constant_scaling":
        h = layers.Rescaling(options["scale"], name=f"{name}_shortcut_scale")(h)
    elif kind == "dropout":
        h = layers.Dropout(options["rate"], name=f"{name}_shortcut_dropout")(h)
    return h


def residual_unit(
    x,
    convs,
    name,
    activation_order="full_preact",
    shortcut="identity",
    shortcut_options=None,
    downsample_shortcut="projection",
    input_activated=False,
    drop_path_rate=0.0,
    zero_init_residual=False,
    factory=None,
):
    """One residual unit, x_{l+1} = f(h(x_l) + F(x_l, W_l)) (Eqns. 1-2 of [2]).

    Args:
        x: the unit input x_l (a symbolic 4-D tensor).
        convs: the weight layers of F as (kernel_size, filters, strides) tuples.
        name: prefix of every layer name, e.g. "stage2_unit1".
        activation_order: a key of `ACTIVATION_ORDERS` (Fig. 4 / Table 2).
        shortcut: a key of `SHORTCUTS` (Fig. 2 / Table 1).
        shortcut_options: options of that shortcut kind (see `SHORTCUTS`).
        downsample_shortcut: "projection", "zero_pad" or (pre-activation units)
            "input_projection", a key of `DOWNSAMPLE_SHORTCUTS`, used where the
            unit changes shape.
        input_activated: True for the first unit of a pre-activation network,
            whose pre-activation already ran right after conv1, before the split
            (appendix of [2]).
        drop_path_rate: the probability of dropping F per sample in training
            (stochastic depth, beyond [2]); above 0 the addition is `DropPathAdd`.
            0 with the gating shortcuts.
        zero_init_residual: True to start F at zero (beyond [2]; see
            `ActivationOrder.zero_init_layer`).
        factory: the `LayerFactory` with the network's layer settings.

    Returns:
        The unit output x_{l+1}.
    """
    factory = factory or LayerFactory()
    order = ACTIVATION_ORDERS[activation_order]
    options = resolve_shortcut_options(shortcut, shortcut_options)
    drop_path_rate = check_drop_path(drop_path_rate, shortcut)
    filters, strides = convs[-1][1], max(s for _, _, s in convs)

    preact = x
    if order.before_conv and not input_activated:
        preact = activate(x, order.before_conv, f"{name}_preact", "", factory)
    y = _branch(preact, convs, name, order, zero_init_residual, factory)
    h = _shortcut(x, preact, filters, strides, order, shortcut, options, downsample_shortcut, name, factory)
    if shortcut == "constant_scaling" and options["scale_residual"]:
        y = layers.Rescaling(1.0 - options["scale"], name=f"{name}_residual_scale")(y)
    if shortcut in GATING_SHORTCUTS:
        gate = layers.Conv2D(
            filters,
            1,
            strides=strides,
            activation="sigmoid",
            kernel_initializer=CONV_INITIALIZER,
            bias_initializer=initializers.Constant(options["gate_bias"]),
            data_format=factory.data_format,
            name=f"{name}_gate",
        )(preact)
        y = GatedAdd(exclusive=shortcut == "exclusive_gating", name=f"{name}_add")([h, y, gate])
    elif drop_path_rate > 0:  # stochastic depth: F dropped per sample in the addition
        y = DropPathAdd(drop_path_rate, name=f"{name}_add")([h, y])
    else:
        y = layers.Add(name=f"{name}_add")([h, y])
    return activate(y, order.after_addition, f"{name}_out", "", factory)


def basic_unit(x, width, strides=1, *, name, activation_order="original", **options):
    """Two 3x3 convs ([1], Fig. 5 left); the stride sits on the first.

    `options` are those of `residual_unit`. Returns the unit output.
    """
    convs = [(3, width, strides), (3, width, 1)]
    return residual_unit(x, convs, name, activation_order, **options)


def bottleneck_unit(x, width, strides=1, *, name, activation_order="original", stride_on="3x3", **options):
    """1x1 (width), 3x3 (width), 1x1 (4 * width) convs ([1], Fig. 5 right); projection
    shortcuts where the shape changes, as in the appendix of [2].

    Args:
        stride_on: "3x3" (fb.resnet.torch, timm) or "1x1" (the authors' CIFAR code).
        Others: as `basic_unit`.
    """
    first, middle = (strides, 1) if stride_on == "1x1" else (1, strides)
    convs = [(1, width, first), (3, width, middle), (1, BOTTLENECK_EXPANSION * width, 1)]
    return residual_unit(x, convs, name, activation_order, **options)


def preact_basic_unit(x, width, strides=1, *, name, **options):
    """Full pre-activation basic unit, Fig. 1(b) / 4(e) of [2]."""
    return basic_unit(x, width, strides, name=name, activation_order="full_preact", **options)


def preact_bottleneck_unit(x, width, strides=1, *, name, **options):
    """Full pre-activation bottleneck unit, Fig. 4(e) of [2] with [1]'s bottleneck."""
    return bottleneck_unit(x, width, strides, name=name, activation_order="full_preact", **options)


UNITS = {"basic": basic_unit, "bottleneck": bottleneck_unit}
