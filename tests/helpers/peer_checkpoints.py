"""Checkpoints written by the peer libraries' own code, for the converter tests.

Each peer model gets random weights and randomised BN statistics (gammas of both
signs, as trained nets have), is saved as its publisher saves it, and is run
forward by its own library for the reference logits:

* torchvision: `torch.save(model.state_dict())` (the hub files);
* timm: `timm.models._hub.save_for_hf(..., safe_serialization=True)` (model.safetensors);
* pytorchcv: `torch.save(state_dict)` in the legacy (pre-1.6) layout its 2019 files have;
* torch7: fb.resnet.torch's module tree written in torch7's format (`torch7_models`).

`convert_in_float64` converts such a checkpoint with Keras in float64, for comparisons of
layouts and weights rather than of rounding; `save_state` saves a state dict with some
values changed (non-finite weights, negative variances); `state_of_every_kind` is a
state dict of every dtype and view the format readers take.
"""

import contextlib
import os

import numpy as np
import torch

from tests.helpers import torch7_models

SIZES = {"imagenet": 64, "cifar": 32}


def randomize(model, size, seed=0):
    """Random BN affine parameters (gammas of both signs), running statistics taken from
    a training-mode pass over random images and then perturbed, as a trained net has
    them (so that deep nets keep logits of order 1); the model in evaluation mode."""
    generator = torch.Generator().manual_seed(seed)
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for bn in norms:
            n = bn.num_features
            sign = torch.where(torch.rand(n, generator=generator) < 0.25, -1.0, 1.0)
            bn.weight.copy_((0.5 + torch.rand(n, generator=generator)) * sign)
            bn.bias.copy_(0.2 * torch.randn(n, generator=generator))
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average: the statistics of this pass
        model.train()(torch.randn(8, 3, size, size, generator=generator))
        classifier = model.get_classifier() if hasattr(model, "get_classifier") else getattr(model, "fc", None)
        classifier = classifier if classifier is not None else model.output
        fan_in = classifier.weight[0].numel()
        classifier.weight.copy_(torch.randn(classifier.weight.shape, generator=generator) * 3 / fan_in**0.5)
        for bn in norms:
            n = bn.num_features
            bn.running_mean.add_(0.1 * torch.randn(n, generator=generator) * bn.running_var.sqrt())
            bn.running_var.mul_(0.8 + 0.45 * torch.rand(n, generator=generator))
            bn.momentum = 0.1
    return model.eval()


def peer_model(source, name):
    """The peer library's model of that name, e.g. ("torchvision", "resnet18")."""
    if source == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)()
    if source == "timm":
        import timm

        return timm.create_model(name)
    import pytorchcv.models.preresnet_cifar as preresnet_cifar
    import pytorchcv.models.resnet_cifar as resnet_cifar

    module = preresnet_cifar if name.startswith("preresnet") else resnet_cifar
    return getattr(module, name)()


def save_peer_checkpoint(source, model, directory, name):
    """Saves `model` as its library publishes it; returns the file."""
    if source == "timm":
        from timm.models._hub import save_for_hf

        save_for_hf(model, os.path.join(directory, name), safe_serialization=True)
        return os.path.join(directory, name, "model.safetensors")
    path = os.path.join(directory, f"{name}.pth")
    torch.save(model.state_dict(), path, _use_new_zipfile_serialization=source != "pytorchcv")
    return path


def state_of_every_kind():
    """A state dict of every dtype and view the readers take: float32, float16, bfloat16,
    int64, a scalar, a transposed view and a slice with a storage offset."""
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(4, 6, generator=generator)
    return {
        "float32": torch.randn(3, 2, 3, 3, generator=generator),
        "transposed": base.t(),  # a strided view of a larger storage
        "slice": base[1:3, 2:],  # with a storage offset
        "float16": torch.randn(5, generator=generator).half(),
        "bfloat16": torch.randn(5, generator=generator).bfloat16(),
        "int64": torch.tensor([1, -2, 3]),
        "scalar": torch.tensor(7),
    }


def save_state(state, path, **changes):
    """Saves a copy of the state dict `state` as pytorchcv's files are (torch.save's legacy
    layout) with `changes` made: {key, with "__" for ".": (flat index, value)}; returns
    the path."""
    state = {k: v.clone() for k, v in state.items()}
    for key, (index, value) in changes.items():
        state[key.replace("__", ".")].view(-1)[index] = value
    torch.save(state, path, _use_new_zipfile_serialization=False)
    return str(path)


def peer_logits(model, images_nhwc):
    """The model's logits in float64 (a copy of it in double precision)."""
    import copy

    with torch.no_grad():
        x = torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).astype("float64"))
        return copy.deepcopy(model).double()(x).numpy()


def torch7_checkpoint(directory, layout, stage_units=(3, 4, 6, 3), size=64):
    """fb.resnet.torch's pre-activation ResNet written as a .t7 file, and its
    reference forward (the file read back by `torchfile`)."""
    import torchfile

    tree = torch7_models.preresnet(stage_units, layout, pool=size // 32, conv_bias=layout == "april2016")
    path = os.path.join(directory, f"preresnet_{layout}.t7")
    torch7_models.save(tree, path)
    reference = torchfile.load(path)

    def forward(images_nhwc):
        with torch.no_grad():
            x = torch.from_numpy(images_nhwc.transpose(0, 3, 1, 2).copy()).double()
            return torch7_models.forward(reference, x).numpy()

    return path, forward


def images(family, count=2, seed=0):
    size = SIZES[family]
    return np.random.default_rng(seed).normal(size=(count, size, size, 3))


def trainable_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def pytorchcv_release(directory):
    """preresnet20_cifar10 with random weights, released as pytorchcv releases it: a
    legacy .pth named with its SHA-1 prefix, zipped; with the peer's logits on images."""
    import hashlib
    import zipfile

    x = images("cifar").astype("float32")
    model = randomize(peer_model("pytorchcv", "preresnet20_cifar10"), 32)
    pth = save_peer_checkpoint("pytorchcv", model, str(directory), "checkpoint")
    with open(pth, "rb") as f:
        sha1 = hashlib.sha1(f.read()).hexdigest()
    name = f"preresnet20_cifar10-0651-{sha1[:8]}.pth"
    with zipfile.ZipFile(os.path.join(directory, f"{name}.zip"), "w") as archive:
        archive.write(pth, name)
    zipped = os.path.join(directory, f"{name}.zip")
    return {"zip": zipped, "sha1": sha1, "pth": pth, "x": x, "logits": peer_logits(model, x)}


@contextlib.contextmanager
def float64():
    """Keras computes in float64 inside the block (Keras is imported here, after torch)."""
    import keras

    previous, floatx = keras.config.dtype_policy(), keras.config.floatx()
    keras.config.set_dtype_policy("float64")
    keras.config.set_floatx("float64")  # the Input layer's dtype
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
        keras.config.set_floatx(floatx)


def convert_in_float64(source, path, model, x):
    """The converted model in float64 (Keras' own BN: the fused kernels are float32)."""
    from keras_preact.weights.convert import convert_checkpoint

    with float64():
        return convert_checkpoint(
            source, path, model, classifier_activation=None, input_shape=x.shape[1:], norm="keras"
        )
