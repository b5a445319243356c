"""The registered model names and the `build_resnet` arguments each name sets: one
entry per row of the depth table (`specs`) and version. Keras-free, so that the
commands check a model name before they load Keras or TensorFlow; `registry` builds
the models of these names.
"""

import re

from keras_preact.models import specs
from keras_preact.utils.checks import shown


def model_name(depth, version=2):
    """The registry name of a standard model, e.g. "PreActResNet164" (the ImageNet and
    CIFAR depths do not overlap)."""
    return f"{'PreAct' if version == 2 else ''}ResNet{depth}"


# name -> the `build_resnet` arguments that define it
MODELS = {
    model_name(depth, version): {
        "depth": depth,
        "version": version,
        "family": family,
        "block": specs.get_spec(depth, family).block,
    }
    for family, depths in (("imagenet", specs.IMAGENET_DEPTHS), ("cifar", specs.CIFAR_NAMED_DEPTHS))
    for depth in depths
    for version in (2, 1)
}


def model_arguments(model):
    """The `build_resnet` arguments of a model name: a registered name, or
    "PreActResNet<depth>" / "ResNet<depth>" for any valid CIFAR depth (e.g. 8, 38).

    Raises:
        ValueError: if the name is neither; the message lists the registered ones.
    """
    if isinstance(model, str) and model in MODELS:
        return dict(MODELS[model])
    match = re.fullmatch(r"(PreAct)?ResNet(\d+)", model) if isinstance(model, str) else None
    if match:
        depth = int(match.group(2))
        try:
            block = specs.get_spec(depth, "cifar").block
        except ValueError:
            pass
        else:
            return {"depth": depth, "version": 2 if match.group(1) else 1, "family": "cifar", "block": block}
    raise ValueError(
        f"Received: model={shown(model)}; expected a registered model {list(MODELS)} or "
        "'PreActResNet<depth>' / 'ResNet<depth>' with a CIFAR depth 6n+2 or 9n+2."
    )
