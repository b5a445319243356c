"""What a training config builds: the model (returning logits) and its optimizer."""

import keras

from keras_preact.models import build_resnet, registry
from keras_preact.training.optimizers import SGD
from keras_preact.training.schedules import StepSchedule


def build_model(config, info):
    """The model a config names, returning logits (the loss applies the softmax)."""
    arguments = registry.model_arguments(config.model)
    arguments.update(config.model_kwargs)
    return build_resnet(
        arguments.pop("depth"),
        input_shape=info.image_shape,
        classes=info.classes,
        classifier_activation=None,
        **arguments,
    )


def build_optimizer(config, schedule, variables):
    """SGD with the config's momentum and step schedule, built on `variables`."""
    lr = StepSchedule(schedule["base_lr"], schedule["boundaries"], schedule["warmup_lr"], schedule["warmup_steps"])
    optimizer = SGD(lr, momentum=config.momentum)
    if config.mixed_precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(variables)
    return optimizer
