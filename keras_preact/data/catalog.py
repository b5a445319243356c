"""What each dataset name means (`DATASETS`): its augmentation family, image shape,
classes and `preprocess_input` statistics. TensorFlow-free, so that the training
command checks a dataset name before it loads TensorFlow; `sources` reads them.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """What a dataset name means: augmentation family, image shape, classes and the
    `preprocess_input` statistics."""

    style: str  # "cifar" or "imagenet"
    image_shape: tuple
    classes: int
    stats: str
    eval_split: str = "test"


DATASETS = {
    "cifar10": DatasetInfo("cifar", (32, 32, 3), 10, "cifar10"),
    "cifar100": DatasetInfo("cifar", (32, 32, 3), 100, "cifar100"),
    "fashion_mnist": DatasetInfo("cifar", (28, 28, 1), 10, "fashion_mnist"),
    "imagenet": DatasetInfo("imagenet", (224, 224, 3), 1000, "imagenet", eval_split="validation"),
    "synthetic_cifar": DatasetInfo("cifar", (32, 32, 3), 10, "cifar10"),
    "synthetic_imagenet": DatasetInfo("imagenet", (224, 224, 3), 1000, "imagenet"),
}
