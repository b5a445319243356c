"""Readers of the checkpoint formats that released ResNet weights come in.

Each reader builds data only (NumPy arrays in plain containers) and never runs code
from the file:

* `torch_pickle`: PyTorch's `torch.save` files (zip and legacy), through a pickle
  reader that rebuilds tensors and plain containers and refuses every other global;
* `safetensors`: Hugging Face safetensors files (a JSON header and raw tensors);
* `torch7`: Lua Torch's `torch.save` files (`.t7`), objects as classes and fields.
"""
