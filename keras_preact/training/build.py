"""What a training config builds: the model (returning logits), its optimizer and the
distributed training stream."""

import keras

from keras_preact.data import pipelines
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


def build_train_dataset(config, strategy, source, start_step):
    """The training stream of `source` from `start_step` on, distributed by `strategy`."""
    return strategy.distribute_datasets_from_function(
        lambda context: pipelines.make_dataset(
            source,
            config.dataset,
            training=True,
            batch_size=config.batch_size,
            seed=config.seed,
            start_step=start_step,
            input_context=context,
            imagenet_augment=config.imagenet_augment,
            crop_padding=config.crop_padding,
        )
    )


def check_replicas(config, strategy):
    """Raises ValueError unless the batch sizes divide by the strategy's replicas."""
    replicas = strategy.num_replicas_in_sync
    for field in ("batch_size", "eval_batch_size"):
        if getattr(config, field) % replicas:
            raise ValueError(
                f"Received: {field}={getattr(config, field)}, not divisible by the {replicas} replicas; "
                f"use a multiple of {replicas}."
            )
