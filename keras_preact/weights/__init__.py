"""Weights: every file of weights the builders' `weights=` names, and what reads them.

* `shipped`: the weights files the package ships, registered by name;
* `publishers`: the publishers of released checkpoints (torchvision, timm, pytorchcv,
  fb.resnet.torch), one record each, with the catalogue of their weights;
* `ported`: fetching a publisher's file, checking and converting it into the cache;
* `convert`, `layout`, `torch7_layout`: mapping a checkpoint onto the builders' layers
  (`convert_checkpoint`; the command is `keras_preact.commands.convert`);
* `formats`: bounded readers of the checkpoint formats, which never run code.

`import keras_preact` registers the shipped and ported weights in the registry of
`keras_preact.models.pretrained`, which the builders read; nothing here is imported by
the builders.
"""
