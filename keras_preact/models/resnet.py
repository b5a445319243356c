"""ResNet v1 and v2 (full pre-activation) builders with keras.applications arguments.

References:
    [1] K. He, X. Zhang, S. Ren, J. Sun. Deep Residual Learning for Image
        Recognition. CVPR 2016.
    [2] K. He, X. Zhang, S. Ren, J. Sun. Identity Mappings in Deep Residual
        Networks. ECCV 2016.

v1 stacks the original units of [1] (Fig. 4(a) of [2]); v2 the full pre-activation
units of [2] (Fig. 1(b) / 4(e)). A v2 network, as the appendix of [2] specifies:

* runs the first unit's activation right after conv1, before the split. On ImageNet
  that is conv1 -> BN -> ReLU -> max-pool, and the first unit has no pre-activation
  of its own (as in fb.resnet.torch's preresnet.lua);
* adds an extra BN -> ReLU after the last unit's addition, before pooling;
* gives shape-changing units projection shortcuts that read the pre-activated tensor.

Deliberate choices, each also a builder argument where it is a choice:

* Stride: in the first unit of stages 2+ on its (first) 3x3 conv (fb.resnet.torch,
  timm). `stride_on="1x1"` moves a bottleneck's stride to its first 1x1 conv, as
  the authors' CIFAR code does. keras.applications' ResNet50V2 strides the *last*
  unit of a stage instead, so it does about 15% fewer multiply-adds than this.
* Padding as in Torch: symmetric k // 2 for strided convs and the max-pool (see
  `keras_preact.models.layers`), so Torch-trained weights port exactly.
* CIFAR nets use projection shortcuts where the shape changes (the parameter counts
  of [2], Table 4); `downsample_shortcut="zero_pad"` gives option A of [1].

Beyond the papers, off by default (docs/paper-fidelity.md, "Beyond the paper"):
`drop_path_rate` (stochastic depth, rising linearly over the units as in timm) and
`zero_init_residual` (each residual branch starts at zero, timm's `zero_init_last`).

Layer names are deterministic: "conv1", "conv1_bn", "stage{s}_unit{u}_conv{k}",
"stage{s}_unit{u}_preact_bn", "stage{s}_unit{u}_shortcut_conv", "post_bn",
"avg_pool", "predictions".
"""

import functools
import sys

import keras
from keras import layers

from keras_preact.models import arguments, pretrained, specs, strict_loading, units
from keras_preact.models.features import pyramid_outputs
from keras_preact.models.layers import LayerFactory, PaddedMaxPooling2D
from keras_preact.models.preprocessing import check_channels, normalization_layer
from keras_preact.utils.checks import check_type, shown


def _allow_graph_depth(spec):
    """Raises Python's recursion limit for Keras' recursive graph walk, if needed.

    `keras.Model` walks the functional graph recursively (keras.src.ops.function
    `_build_map_helper`), about two frames per residual unit, so ResNet-1202's 600
    units pass Python's default limit of 1000. The limit stays raised: loading a
    saved .keras file of such a model in this process walks the graph again.
    """
    needed = 4 * sum(spec.stage_units) + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


def drop_path_rates(drop_path_rate, count):
    """The drop rate of each of `count` units, rising linearly from 0 for the first
    to `drop_path_rate` for the last (timm's `torch.linspace(0, drop_path_rate, count)`)."""
    if count == 1:
        return [0.0]
    return [drop_path_rate * i / (count - 1) for i in range(count)]


def _stem(x, spec, factory, activation=True):
    """conv1 -> BN -> ReLU (-> max-pool on ImageNet).

    For pre-activation units this BN -> ReLU is the first unit's activation, moved
    right after conv1 and before the split (appendix of [2]). Without `activation`
    (`stem_activation="none"`) the stem is conv1 (-> max-pool).
    """
    if spec.family == "imagenet":
        x = factory.conv(x, spec.stem_width, 7, strides=2, name="conv1")
    else:
        x = factory.conv(x, spec.stem_width, 3, name="conv1")
    if activation:
        x = factory.bn(name="conv1_bn")(x)
        x = factory.relu(name="conv1_relu")(x)
    if spec.family == "imagenet" and activation:
        x = layers.ZeroPadding2D(1, data_format=factory.data_format, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, data_format=factory.data_format, name="pool1")(x)
    elif spec.family == "imagenet":
        x = PaddedMaxPooling2D(3, 2, 1, data_format=factory.data_format, name="pool1")(x)
    return x


def _load_weights(model, path, include_top, new_classifier):
    """Loads a weights file strictly: with `new_classifier`, into the model up to the
    classifier's input (the file's classifier is left out)."""
    body = keras.Model(model.inputs, model.get_layer("predictions").input) if new_classifier else model
    strict_loading.load_weights_strict(body, path, skip_classifier=new_classifier or not include_top)


def _classifier_dtype():
    """The classifier's dtype: "float32" under a mixed-precision policy (Keras' guide:
    the output layer in float32, for a stable softmax and loss), else None (the policy's)."""
    policy = keras.config.dtype_policy()
    return "float32" if policy.compute_dtype != policy.variable_dtype else None


def _head(x, include_top, pooling, classes, classifier_activation, data_format):
    """Global pooling and the classifier. With `include_top`, `pooling` is ignored (as
    keras.applications does): the classifier reads global average pooling."""
    if include_top or pooling == "avg":
        x = layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(data_format=data_format, name="max_pool")(x)
    if include_top:
        dtype = _classifier_dtype()
        x = layers.Dense(classes, activation=classifier_activation, dtype=dtype, name="predictions")(x)
    return x


def build_resnet(
    depth,
    *,
    version=2,
    family="imagenet",
    block=None,
    activation_order=None,
    shortcut="identity",
    shortcut_options=None,
    downsample_shortcut=None,
    stride_on="3x3",
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    name=None,
    norm="fused",
    include_preprocessing=False,
    dataset=None,
    drop_path_rate=0.0,
    zero_init_residual=False,
    stem_activation=None,
):
    """Builds a ResNet of [1] (version 1) or [2] (version 2) as a functional model.

    Args:
        depth: weight layers: 18, 34, 50, 101, 152 or 200 for ImageNet; 6n+2
            (basic) or 9n+2 (bottleneck) for CIFAR.
        version: 1 (post-activation, [1]) or 2 (pre-activation, [2]).
        family: "imagenet" (7x7 stem, four stages) or "cifar" (3x3 stem, three).
        block: None for the block the depth implies, or "basic" / "bottleneck"
            for CIFAR depths that fit both (20, 56, 110, 164, ...).
        activation_order: None for the version's default ("original" for 1,
            "full_preact" for 2), or another order of the same version from
            Table 2 of [2]: "bn_after_addition", "relu_before_addition" (v1),
            "relu_only_preact" (v2).
        shortcut: Table 1 of [2]: "identity", "constant_scaling",
            "exclusive_gating", "shortcut_only_gating", "conv1x1", "dropout".
        shortcut_options: options of the shortcut kind: {"scale": 0.5,
            "scale_residual": False} for constant scaling, {"gate_bias": -6.0}
            for gating, {"rate": 0.5} for dropout.
        downsample_shortcut: "projection" (option B of [1]) or "zero_pad"
            (option A) where a unit changes shape; "input_projection" (version
            2): a projection on the unit input before its pre-activation, then BN
            (fb.resnet.torch's released ResNet-200, not the paper's appendix).
            None (default): what the weights given need, else "projection".
        stride_on: "3x3" or "1x1": which conv of a downsampling bottleneck unit
            has the stride (basic units always stride their first 3x3).
        include_top: whether to end with global average pooling and a
            `classes`-way dense classifier.
        weights: None, a registered weights name, or the path of a
            `.weights.h5` file.
        input_tensor: optional Keras tensor to use as the model input.
        input_shape: optional (height, width, channels) (channels first under
            "channels_first"); defaults to 224x224x3 (ImageNet), 32x32x3
            (CIFAR) or the weights' shape.
        pooling: with include_top=False: None (4-D feature map), "avg" or "max";
            ignored with include_top=True (as in keras.applications).
        classes: classifier outputs; defaults to 1000 (ImageNet), 10 (CIFAR) or
            the weights' classes. Other than the registered weights' classes: every
            layer but the classifier is loaded, and the new classifier keeps the
            builder's initialisation (as timm's `num_classes=` and keras-hub do).
        classifier_activation: activation of the classifier; None for logits.
            Under a mixed-precision policy the classifier computes in float32, so
            the model's output is float32.
        name: model name; defaults to e.g. "preact_resnet164".
        norm: the BatchNormalization layer: "fused" (default;
            `keras_preact.models.batch_norm.BatchNormalization`, fused TensorFlow
            kernels) or "keras" (`keras.layers.BatchNormalization`). Same weights,
            names and results.
        include_preprocessing: True: the model takes images in [0, 255] and
            normalises them inside (a Keras `Normalization` layer named
            "input_normalization" doing `preprocess_input`), as keras.applications'
            newer models do; False (default): inputs are `preprocess_input`'s output.
        dataset: with `include_preprocessing=True`, whose statistics to normalise
            with: "imagenet", "cifar10", "cifar100" or "fashion_mnist". Defaults to
            those of the weights given, else ImageNet's (CIFAR-family models without
            weights must name one).
        drop_path_rate: stochastic depth (Huang et al. 2016; beyond [1], [2]):
            in training, unit i of the N units (0-based) drops its residual
            branch per sample with rate drop_path_rate * i / (N - 1), as timm's
            `drop_path_rate`; inference is unchanged. A float in [0, 1); the
            gating shortcuts take only 0 (the default). A unit with a rate above
            0 adds with `DropPathAdd` instead of `Add`: the same layers and
            variables, so weights files of the model without it load.
        zero_init_residual: True to start each residual branch at zero, so each
            unit starts as its shortcut (Goyal et al. 2017, timm's
            `zero_init_last`; beyond [1], [2]): the gamma of the BN after the
            last conv where the order has one (v1 "original"), else the last
            conv's kernel (v2 "full_preact"). Loaded weights replace it.
        stem_activation: where a pre-activation net's first activation sits.
            "shared" (the paper's appendix): conv1 -> BN -> ReLU (-> max-pool) is
            the first unit's pre-activation and feeds both of its paths. The
            others (version 2 only) make the first unit pre-activate as every
            other unit does, so its identity shortcut carries the stem's output
            and a projection reads the pre-activation: "none", a stem of conv1
            (-> max-pool, padded so that padding never wins) alone (timm's
            ResNetV2, pytorchcv's CIFAR PreResNets); "separate", the stem keeps
            its BN -> ReLU (fb.resnet.torch's released ResNet-200). None
            (default): what the weights given need, else "shared".

    Returns:
        A `keras.Model`. Built with `include_top=False`, it has `pyramid_outputs`:
        {"P1": ..., ...} ("P0", ... for CIFAR), the per-stage feature maps of
        `keras_preact.models.features` (`feature_extractor(model)` gives a model of them).

    Raises:
        ValueError: for any argument outside its allowed values; the message
            echoes the value received.
    """
    spec = specs.get_spec(depth, family, block)
    info, weights_path = arguments.resolve_weights(weights, spec, version)  # the registry, read once
    explicit = {"stem_activation": stem_activation, "downsample_shortcut": downsample_shortcut}
    layout = arguments.merge_builder_options(info, explicit)
    unit_options = arguments.resolve_unit_options(
        spec, version, activation_order, shortcut, shortcut_options, layout["downsample_shortcut"], stride_on
    )
    arguments.check_standard_units(info, spec, version, unit_options)
    stem_activation = layout["stem_activation"]
    arguments.check_stem_activation(stem_activation, unit_options)
    drop_path_rate, zero_init_residual = arguments.resolve_regularization(drop_path_rate, zero_init_residual, shortcut)
    classes = arguments.resolve_head(include_top, pooling, classes, classifier_activation, spec, info)
    check_type("name", name, (str, type(None)), "None or a string")
    if input_tensor is not None and not keras.utils.is_keras_tensor(input_tensor):
        raise ValueError(
            f"Received: input_tensor={shown(input_tensor)} of type {type(input_tensor).__name__}; expected a Keras "
            "tensor such as keras.Input(shape)."
        )
    factory = LayerFactory(norm=norm)
    shape = arguments.resolve_input_shape(input_shape, input_tensor, spec, info, factory.data_format)
    normalize_with = arguments.resolve_preprocessing(include_preprocessing, dataset, spec, info)
    if normalize_with is not None:  # the statistics must have the input's channels
        check_channels(f"input_shape={shape}, include_preprocessing=True", shape, normalize_with, factory.data_format)

    if input_tensor is None:
        inputs = x = layers.Input(shape, name="input")
    else:
        sources = keras.utils.get_source_inputs(input_tensor)
        inputs, x = (sources[0] if len(sources) == 1 else sources), input_tensor

    if normalize_with is not None:
        x = normalization_layer(normalize_with, factory.data_format)(x)
    unit = functools.partial(
        units.UNITS[spec.block], factory=factory, zero_init_residual=zero_init_residual, **unit_options
    )
    rates = iter(drop_path_rates(drop_path_rate, sum(spec.stage_units)))
    x = _stem(x, spec, factory, stem_activation != "none")
    for s, (count, width) in enumerate(zip(spec.stage_units, spec.stage_widths), 1):
        for u in range(1, count + 1):
            # The first unit of the network takes conv1's activation (appendix of [2]).
            strides, first = (2 if s > 1 and u == 1 else 1), s == u == 1
            x = unit(
                x,
                width,
                strides,
                name=f"stage{s}_unit{u}",
                input_activated=first and stem_activation == "shared",
                drop_path_rate=next(rates),
            )
    # Pre-activation nets: an extra activation after the last addition (appendix of [2]).
    order = units.ACTIVATION_ORDERS[unit_options["activation_order"]]
    x = units.activate(x, order.before_conv, "post", "", factory)
    x = _head(x, include_top, pooling, classes, classifier_activation, factory.data_format)

    _allow_graph_depth(spec)
    model = keras.Model(inputs, x, name=name or f"{'preact_' if version == 2 else ''}resnet{depth}")
    if info is not None:
        # A second build: ported weights are converted on first use (weights.ported builds
        # a model in their source's layout to write the Keras file); later uses read it.
        weights_path = pretrained.fetch_weights(info)
    if weights_path is not None:
        new_classifier = include_top and info is not None and classes != info.classes
        _load_weights(model, weights_path, include_top, new_classifier)
    if not include_top:
        model.pyramid_outputs = pyramid_outputs(model)
    return model
