"""A keras-tuner search space over the networks of [2].

`PreActHyperModel` builds CIFAR-family models through `keras_preact.build_resnet`
and tunes depth, version (1: [1]'s post-activation, 2: [2]'s pre-activation), the
unit variant (the activation orders of [2] Fig. 4 / Table 2 that belong to the
chosen version, and optionally the shortcut kinds of Table 1), the learning rate
and the weight decay:

    tuner = keras_tuner.RandomSearch(
        PreActHyperModel(input_shape=(28, 28, 1), classes=10),
        objective="val_accuracy", max_trials=4, directory="runs/tuner")
    tuner.search(x, y, validation_data=(vx, vy), epochs=2, batch_size=128)

Weight decay is Keras' decoupled decay of the SGD optimizer (w <- w - lr * wd * w
each step, outside the momentum); without momentum it equals an L2 penalty
(wd / 2) * ||w||^2 in the loss, the paper's form, and with momentum it is close.
"""

import keras
import keras_tuner

from keras_preact.models.resnet import build_resnet
from keras_preact.models.specs import get_spec
from keras_preact.models.units import ACTIVATION_ORDERS, SHORTCUTS
from keras_preact.utils.checks import check_choice


class PreActHyperModel(keras_tuner.HyperModel):
    """Depth x version x unit variant x learning rate x weight decay.

    Args:
        input_shape: the images' (H, W, C).
        classes: classifier outputs.
        depths: CIFAR depths to choose from (6n+2 or 9n+2).
        versions: any of 1 and 2.
        activation_orders: the orders to choose from; each is tried only with
            its own version. None: all of `ACTIVATION_ORDERS`.
        shortcuts: shortcut kinds of Table 1 to choose from.
        learning_rates: (min, max) of a log-uniform learning rate.
        weight_decays: (min, max) of a log-uniform weight decay.
        momentum: SGD momentum (0.9 in [2]).
    """

    def __init__(
        self,
        input_shape,
        classes,
        depths=(8, 14, 20),
        versions=(1, 2),
        activation_orders=None,
        shortcuts=("identity",),
        learning_rates=(0.01, 0.3),
        weight_decays=(1e-5, 1e-3),
        momentum=0.9,
        name="preact_resnet",
        tunable=True,
    ):
        super().__init__(name=name, tunable=tunable)
        for depth in depths:
            get_spec(depth, "cifar")  # raises for a depth that is neither 6n+2 nor 9n+2
        for version in versions:
            check_choice("versions", version, (1, 2))
        orders = list(ACTIVATION_ORDERS) if activation_orders is None else list(activation_orders)
        for order in orders:
            check_choice("activation_orders", order, tuple(ACTIVATION_ORDERS))
        for shortcut in shortcuts:
            check_choice("shortcuts", shortcut, tuple(SHORTCUTS))
        self.orders = {v: [o for o in orders if ACTIVATION_ORDERS[o].version == v] for v in versions}
        for version, choices in self.orders.items():
            if not choices:
                raise ValueError(f"Received: activation_orders={orders}, none of which is a version {version} order.")
        self.input_shape, self.classes = tuple(input_shape), classes
        self.depths, self.versions, self.shortcuts = list(depths), list(versions), list(shortcuts)
        self.learning_rates, self.weight_decays, self.momentum = learning_rates, weight_decays, momentum

    def build(self, hp):
        depth = hp.Choice("depth", self.depths)
        version = hp.Choice("version", self.versions)
        with hp.conditional_scope("version", [version]):
            order = hp.Choice(f"activation_order_v{version}", self.orders[version])
        shortcut = hp.Choice("shortcut", self.shortcuts)
        learning_rate = hp.Float("learning_rate", *self.learning_rates, sampling="log")
        weight_decay = hp.Float("weight_decay", *self.weight_decays, sampling="log")
        model = build_resnet(
            depth,
            version=version,
            family="cifar",
            activation_order=order,
            shortcut=shortcut,
            input_shape=self.input_shape,
            classes=self.classes,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate, momentum=self.momentum, weight_decay=weight_decay),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        return model
