"""The registry of named models: one entry per row of the depth table and version.

`list_models()` enumerates them, filtered by a case-insensitive pattern, family, version
or registered weights (tests, CLIs and docs iterate over it), and
`get_model(name, **kwargs)` builds one. The named builders exported by the package
(`keras_preact.PreActResNet200`, `keras_preact.ResNet110`, ...) are generated here,
each a thin wrapper over `build_resnet` with keras.applications' arguments.
"""

import fnmatch
import inspect

from keras_preact.models import specs
from keras_preact.models.names import MODELS, model_arguments, model_name  # noqa: F401 (re-exported)
from keras_preact.models.pretrained import list_weights
from keras_preact.models.resnet import build_resnet
from keras_preact.utils.checks import check_choice, is_integer, shown

# The `build_resnet` arguments a model name sets, and those its builder takes.
NAME_ARGUMENTS = ("depth", "version", "family", "block")
BUILDER_ARGUMENTS = tuple(p for p in inspect.signature(build_resnet).parameters if p not in NAME_ARGUMENTS)


def list_models(pattern="*", family=None, version=None, pretrained=False):
    """Names of the registered models, optionally filtered, in registry order.

    Args:
        pattern: shell-style pattern on the name, case-insensitive: "PreAct*",
            "*resnet50*" (ResNet50 and PreActResNet50).
        family: None, "imagenet" or "cifar".
        version: None, 1 or 2.
        pretrained: True for only the models with at least one registered weights
            file (`list_weights(model)`), such as the shipped "fashion_mnist" weights
            of PreActResNet20.

    Returns:
        A list of model names, each a key of `MODELS` and a named builder.

    Raises:
        ValueError: if `pattern` is not a string, `family` or `version` is not one of
            the values above, or `pretrained` is not a bool.
    """
    if not isinstance(pattern, str):
        raise ValueError(f"Received: pattern={pattern!r}; expected a shell-style pattern string such as 'PreAct*'.")
    check_choice("family", family, (None, *specs.FAMILIES))
    if version is not None and not (is_integer(version) and version in (1, 2)):
        raise ValueError(f"Received: version={version!r}; expected one of (None, 1, 2).")
    if not isinstance(pretrained, bool):
        raise ValueError(f"Received: pretrained={pretrained!r}; expected True or False.")
    with_weights = {model for model, _ in list_weights()}
    return [
        name
        for name, arch in MODELS.items()
        if fnmatch.fnmatchcase(name.lower(), pattern.lower())
        and family in (None, arch["family"])
        and version in (None, arch["version"])
        and (not pretrained or name in with_weights)
    ]


def get_model(model, **kwargs):
    """Builds a model by name: a registered one, or "PreActResNet<depth>" /
    "ResNet<depth>" for any valid CIFAR depth; `kwargs` as for the named builders.

    Raises:
        ValueError: for an unknown name (the message lists the registered ones), an
            argument the name sets (depth, version, family, block) or that the
            builders do not take, or any builder argument outside its values.
    """
    arguments = model_arguments(model)
    check_builder_arguments(model, kwargs)
    if model in MODELS:
        return BUILDERS[model](**kwargs)
    return build_resnet(arguments.pop("depth"), **arguments, **kwargs)


def check_builder_arguments(model, kwargs):
    """Raises ValueError for a keyword argument of `kwargs` that `model`'s name sets
    (depth, version, family, block) or that the builders do not take."""
    for key, value in kwargs.items():
        if key in NAME_ARGUMENTS:
            raise ValueError(
                f"Received: {key}={shown(value)} for model={model!r}, whose name sets {key}; expected "
                f"another model name, or keras_preact.build_resnet for the arguments {NAME_ARGUMENTS}."
            )
        if key not in BUILDER_ARGUMENTS:
            raise ValueError(
                f"Received: {key}={shown(value)}, an argument {model} does not take; expected "
                f"arguments from {BUILDER_ARGUMENTS}."
            )


def _named_builder(model):
    arch = MODELS[model]

    def builder(
        include_top=True,
        weights=None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=None,
        classifier_activation="softmax",
        name=None,
        norm="fused",
        **unit_options,
    ):
        check_builder_arguments(model, unit_options)
        return build_resnet(
            **arch,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            norm=norm,
            **unit_options,
        )

    spec = specs.get_spec(arch["depth"], arch["family"], arch["block"])
    kind = "pre-activation (v2, [2])" if arch["version"] == 2 else "original (v1, [1])"
    builder.__name__ = builder.__qualname__ = model
    builder.__doc__ = (
        f"{model}: the {kind} {spec.depth}-layer ResNet for {spec.family}, {spec.block} "
        f"units {spec.stage_units} per stage.\n\n"
        "Arguments are those of keras.applications (include_top, weights, input_tensor,\n"
        'input_shape, pooling, classes, classifier_activation, name), `norm` ("fused" or\n'
        '"keras" BatchNormalization), and the unit variants of `keras_preact.build_resnet`\n'
        "(activation_order, shortcut, shortcut_options, downsample_shortcut, stride_on,\n"
        "stem_activation) "
        "and its training options beyond the paper (drop_path_rate, zero_init_residual).\n\n"
        "Returns:\n    A `keras.Model`.\n\n"
        "Raises:\n    ValueError: for any argument outside its allowed values, or one the builder\n"
        "    does not take; the message echoes the value received.\n"
    )
    return builder


BUILDERS = {model: _named_builder(model) for model in MODELS}
