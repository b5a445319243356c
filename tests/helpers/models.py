"""Models for the tests: small input shapes, the registered models built once per
session, and the layers around a layer of a functional model."""

# Smallest inputs each family accepts quickly; structure does not depend on size.
SMALL_SHAPE = {"imagenet": (32, 32, 3), "cifar": (8, 8, 3)}


def inbound_layers(model, name):
    """Names of the layers whose outputs feed layer `name`."""
    node = model.get_layer(name)._inbound_nodes[0]
    return [t._keras_history.operation.name for t in node.input_tensors]


def consumer_layers(model, name):
    """Names of the layers of `model` that read the output of layer `name`."""
    names = {layer.name for layer in model.layers}
    return sorted(node.operation.name for node in model.get_layer(name)._outbound_nodes if node.operation.name in names)


def is_deep(name):
    """Whether the registered model `name` has 1000 layers or more (its tests are `slow`)."""
    from keras_preact.models.registry import MODELS

    return MODELS[name]["depth"] >= 1000


_MODELS = {}


def default_model(name):
    """The registered model `name` with default arguments, built once per session.

    Parameter counts and structure tests share it: the deepest models take ~20 s to build.
    """
    if name not in _MODELS:
        import keras_preact

        _MODELS[name] = keras_preact.get_model(name)
    return _MODELS[name]
