"""Torch7 files for the tests: a writer of torch7's binary format, fb.resnet.torch's
pre-activation ResNets as the module trees its `models/preresnet.lua` builds, and a
reference forward pass of such a tree in PyTorch.

Lua Torch does not install here. The writer follows torch7's `File.lua`
(`writeObject`) and `generic/Tensor.c` / `generic/Storage.c` (`write`); the reference
forward reads the file with `torchfile` (PyPI, an independent reader) and runs each
module as nn does in evaluation mode.
"""

import struct

import numpy as np
import torch
import torch.nn.functional as F

from keras_preact.weights.formats.torch7 import TorchObject


class Writer:
    """torch7's binary `writeObject`: type tag, and for tables and Torch objects an
    index shared by both (a repeated object is written as its index only)."""

    def __init__(self, f):
        self.f, self.index = f, {}

    def _int(self, value):
        self.f.write(struct.pack("<i", value))

    def _string(self, text):
        data = text.encode("latin-1")
        self._int(len(data))
        self.f.write(data)

    def _new_index(self, obj):
        seen = id(obj) in self.index
        if not seen:
            self.index[id(obj)] = (len(self.index) + 1, obj)
        self._int(self.index[id(obj)][0])
        return seen

    def write(self, obj):
        if obj is None:
            self._int(0)
        elif isinstance(obj, bool):
            self._int(5)
            self._int(1 if obj else 0)
        elif isinstance(obj, (int, float)):
            self._int(1)
            self.f.write(struct.pack("<d", float(obj)))
        elif isinstance(obj, str):
            self._int(2)
            self._string(obj)
        elif isinstance(obj, dict):
            self._int(3)
            if not self._new_index(obj):
                self._int(len(obj))
                for key, value in obj.items():
                    self.write(key)
                    self.write(value)
        elif isinstance(obj, np.ndarray):
            self._tensor(obj)
        elif isinstance(obj, TorchObject):
            self._int(4)
            if not self._new_index(obj):
                self._string("V 1")
                self._string(obj.class_name)
                self.write(obj.fields)
        else:
            raise TypeError(type(obj))

    def _tensor(self, array):
        array = np.ascontiguousarray(array, "float32")
        self._int(4)
        if self._new_index(array):
            return
        self._string("V 1")
        self._string("torch.FloatTensor")
        self._int(array.ndim)
        self.f.write(struct.pack(f"<{array.ndim}q", *array.shape))
        self.f.write(struct.pack(f"<{array.ndim}q", *[s // 4 for s in array.strides]))
        self.f.write(struct.pack("<q", 1))  # 1-based storage offset
        storage = array.reshape(-1)
        self._int(4)
        self._new_index(storage)
        self._string("V 1")
        self._string("torch.FloatStorage")
        self.f.write(struct.pack("<q", storage.size))
        self.f.write(storage.tobytes())


def save(obj, path):
    with open(path, "wb") as f:
        Writer(f).write(obj)


def module(class_name, **fields):
    return TorchObject(class_name, fields)


def container(class_name, children):
    return module(class_name, modules={i: child for i, child in enumerate(children, 1)})


class Parameters:
    """Random weights and BN statistics, as a trained net has them."""

    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)

    def conv(self, n_in, n_out, k, stride=1, bias=False):
        fields = dict(nInputPlane=n_in, nOutputPlane=n_out, kW=k, kH=k, dW=stride, dH=stride, padW=k // 2, padH=k // 2)
        weight = self.rng.normal(0, np.sqrt(2.0 / (k * k * n_out)), (n_out, n_in, k, k)).astype("float32")
        if bias:
            fields["bias"] = np.zeros(n_out, "float32")
        return module("cudnn.SpatialConvolution", weight=weight, **fields)

    def bn(self, n, real=None):
        """`real` < n: the April 2016 typo, a BN of n features of which the first
        `real` are used (the rest keep their initial 1 / 0)."""
        real = real or n
        weight, bias = np.ones(n, "float32"), np.zeros(n, "float32")
        mean, var = np.zeros(n, "float32"), np.ones(n, "float32")
        weight[:real] = self.rng.uniform(0.5, 1.5, real) * self.rng.choice([-1, 1], real)
        bias[:real], mean[:real] = self.rng.normal(0, 0.2, real), self.rng.normal(0, 0.2, real)
        var[:real] = self.rng.uniform(0.5, 2.0, real)
        return module(
            "nn.SpatialBatchNormalization",
            weight=weight,
            bias=bias,
            running_mean=mean,
            running_var=var,
            eps=1e-5,
            momentum=0.1,
            affine=True,
            train=False,
            nOutput=n,
        )

    def linear(self, n_in, n_out):
        weight = self.rng.normal(0, 0.05, (n_out, n_in)).astype("float32")
        return module("nn.Linear", weight=weight, bias=self.rng.normal(0, 0.1, n_out).astype("float32"))


def relu():
    return module("cudnn.ReLU", inplace=True)


def preresnet(stage_units, layout="paper", classes=1000, pool=7, seed=0, conv_bias=False):
    """fb.resnet.torch's ImageNet pre-activation bottleneck ResNet as a module tree.

    layout "paper": `models/preresnet.lua` today (first unit 'no_preact', first units
    of later stages 'both_preact', projections without BN). "april2016": the code of
    commit c530106, in which resnet-200.t7 was trained (every unit pre-activates inside
    its branch, projections with BN, nn.Copy before the last BN, and the typo BN of
    n * 4 features after the 3x3 conv).
    """
    p, april = Parameters(seed), layout == "april2016"
    channels, stages = 64, []

    def bottleneck(n, stride, kind):
        nonlocal channels
        n_in, channels = channels, n * 4
        block, branch = [], []
        if kind == "both_preact" and not april:
            block += [p.bn(n_in), relu()]
        elif kind != "no_preact" or april:
            branch += [p.bn(n_in), relu()]
        branch += [p.conv(n_in, n, 1, bias=conv_bias), p.bn(n), relu(), p.conv(n, n, 3, stride, bias=conv_bias)]
        branch += [p.bn(n * 4, real=n) if april else p.bn(n), relu(), p.conv(n, n * 4, 1, bias=conv_bias)]
        if n_in != n * 4:
            projection = [p.conv(n_in, n * 4, 1, stride)] + ([p.bn(n * 4)] if april else [])
            shortcut = container("nn.Sequential", projection)
        else:
            shortcut = module("nn.Identity")
        concat = container("nn.ConcatTable", [container("nn.Sequential", branch), shortcut])
        return container("nn.Sequential", block + [concat, module("nn.CAddTable", inplace=True)])

    for s, (count, width) in enumerate(zip(stage_units, (64, 128, 256, 512))):
        kinds = ["no_preact" if s == 0 else "both_preact"] + [None] * (count - 1)
        strides = [1 if s == 0 else 2] + [1] * (count - 1)
        stages.append(container("nn.Sequential", [bottleneck(width, st, k) for st, k in zip(strides, kinds)]))
    stem = [
        p.conv(3, 64, 7, 2),
        p.bn(64),
        relu(),
        module("nn.SpatialMaxPooling", kW=3, kH=3, dW=2, dH=2, padW=1, padH=1, ceil_mode=False),
    ]
    head = ([module("nn.Copy")] if april else []) + [p.bn(channels), relu()]
    head += [
        module(
            "cudnn.SpatialAveragePooling",
            kW=pool,
            kH=pool,
            dW=1,
            dH=1,
            padW=0,
            padH=0,
            count_include_pad=True,
            ceil_mode=False,
        )
    ]
    head += [module("nn.View", numElements=channels, numInputDims=3), p.linear(channels, classes)]
    return container("nn.Sequential", stem + stages + head)


def _field(obj, key):
    return obj[key]  # torchfile's objects look str keys up as bytes


def _tensor(array, like):
    return torch.from_numpy(np.ascontiguousarray(array)).to(like.dtype)


def _children(tree):
    modules = _field(tree, "modules")
    return list(modules) if isinstance(modules, list) else [modules[i] for i in sorted(modules)]


def forward(tree, x):
    """nn's evaluation-mode forward of a module tree read by `torchfile`."""
    name = tree.torch_typename().decode().rsplit(".", 1)[-1]
    get = lambda key: _field(tree, key)  # noqa: E731
    if name == "Sequential":
        for child in _children(tree):
            x = forward(child, x)
        return x
    if name == "ConcatTable":
        return [forward(child, x) for child in _children(tree)]
    if name == "CAddTable":
        return sum(x[1:], x[0])
    if name in ("Identity", "Copy"):
        return x
    if name == "ReLU":
        return F.relu(x)
    if name.startswith("SpatialConvolution"):
        bias = get("bias")
        return F.conv2d(
            x,
            _tensor(get("weight"), x),
            None if bias is None else _tensor(bias, x),
            (int(get("dH")), int(get("dW"))),
            (int(get("padH")), int(get("padW"))),
        )
    if name == "SpatialBatchNormalization":
        c = x.shape[1]
        stats = [_tensor(get(k)[:c], x) for k in ("running_mean", "running_var", "weight", "bias")]
        return F.batch_norm(x, *stats, training=False, eps=get("eps"))
    if name == "SpatialMaxPooling":
        return F.max_pool2d(
            x,
            (int(get("kH")), int(get("kW"))),
            (int(get("dH")), int(get("dW"))),
            (int(get("padH")), int(get("padW"))),
            ceil_mode=bool(get("ceil_mode")),
        )
    if name == "SpatialAveragePooling":
        return F.avg_pool2d(x, (int(get("kH")), int(get("kW"))), (int(get("dH")), int(get("dW"))))
    if name == "View":
        return x.reshape(x.shape[0], -1)
    if name == "Linear":
        return F.linear(x, _tensor(get("weight"), x), _tensor(get("bias"), x))
    raise NotImplementedError(name)
