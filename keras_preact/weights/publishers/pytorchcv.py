"""pytorchcv (imgclsmob: `resnet*_cifar*`, v1, and `preresnet*_cifar*`, v2): CIFAR
ResNets as `torch.save` state dicts in the legacy layout of 2019, released as a zip
holding one `.pth` whose SHA-1 pytorchcv checks.

Its PreResNets' stem is conv1 alone and the first unit pre-activates itself. Where that
unit has a projection (the bottleneck nets) that equals the paper's stem, and its BN
loads as "conv1_bn"; where it has an identity shortcut (the basic nets), which then
carries conv1's raw output, the model needs `stem_activation="none"`.
"""

import io
import zipfile

from keras_preact.weights.formats import torch_pickle
from keras_preact.weights.formats.limits import Budget, CheckpointError, read_zip_entry
from keras_preact.weights.layout import StateDictRules, share_stem_activation, state_dict, state_dict_layers
from keras_preact.weights.publishers import Publisher

RULES = StateDictRules(
    (
        (r"features\.init_block(?:\.conv)?", "conv1"),
        (r"features\.init_block\.bn", "conv1_bn"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv1\.bn@v2", "stage{s}_unit{u}_preact_bn"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.conv", "stage{s}_unit{u}_conv{k}"),
        (r"features\.stage(\d)\.unit(\d+)\.body\.conv(\d)\.bn", "stage{s}_unit{u}_bn{k}"),
        (r"features\.stage(\d)\.unit(\d+)\.identity_conv(?:\.conv)?", "stage{s}_unit{u}_shortcut_conv"),
        (r"features\.stage(\d)\.unit(\d+)\.identity_conv\.bn", "stage{s}_unit{u}_shortcut_bn"),
        (r"features\.post_activ\.bn", "post_bn"),
        (r"output", "predictions"),
    )
)
URL = "https://github.com/osmr/imgclsmob/releases/download/{tag}/{file}.zip"
LICENSE = "MIT (pytorchcv)"
# (model, pytorchcv name, error x 100, SHA-1 of the .pth, release tag), from pytorchcv's model_metainfos.csv
RELEASES = [
    ("ResNet20", "resnet20_cifar10", "0597", "9b0024ac4c2f374cde2c5052e0d0344a75871cdb", "v0.0.163"),
    ("ResNet20", "resnet20_cifar100", "2964", "a5322afed92fa96cb7b3453106f73cf38e316151", "v0.0.180"),
    ("ResNet56", "resnet56_cifar10", "0452", "628c42a26fe347b84060136212e018df2bb35e0f", "v0.0.163"),
    ("ResNet56", "resnet56_cifar100", "2488", "d65f53b10ad5d124698e728432844c65261c3107", "v0.0.181"),
    ("ResNet110", "resnet110_cifar10", "0369", "4d6ca1fc02eaeed724f4f596011e391528536049", "v0.0.163"),
    ("ResNet110", "resnet110_cifar100", "2280", "d8d397a767db6d22af040223ec8ae342a088c3e5", "v0.0.190"),
    ("ResNet164", "resnet164bn_cifar10", "0368", "74ae9f4bccb7fb6a8f3f603fdabe8d8632c46b2f", "v0.0.179"),
    ("ResNet164", "resnet164bn_cifar100", "2044", "8fa07b7264a075fa5add58f4c676b99a98fb1c89", "v0.0.182"),
    ("ResNet1001", "resnet1001_cifar10", "0328", "77a179e240808b7aa3534230d39b845a62413ca2", "v0.0.201"),
    ("ResNet1001", "resnet1001_cifar100", "1979", "2728b558748f9c3e70db179afb6c62358020858b", "v0.0.254"),
    ("ResNet1202", "resnet1202_cifar10", "0353", "1d5a21290117903fb5fd6ba59f3f7e7da7c08836", "v0.0.214"),
    ("ResNet1202", "resnet1202_cifar100", "2156", "86ecd091e5ac9677bf4518c644d08eb3e1d1708a", "v0.0.410"),
    ("PreActResNet20", "preresnet20_cifar10", "0651", "76cec68d11de5b25be2ea5935681645b76195f1d", "v0.0.164"),
    ("PreActResNet20", "preresnet20_cifar100", "3022", "3dbfa6a2b850572bccb28cc2477a0e46c24abcb8", "v0.0.187"),
    ("PreActResNet56", "preresnet56_cifar10", "0449", "e9124fcf167d8ca50addef00c3afa4da9f828f29", "v0.0.164"),
    ("PreActResNet56", "preresnet56_cifar100", "2505", "ca90a2be6002cd378769b9d4e7c497dd883d31d9", "v0.0.188"),
    ("PreActResNet110", "preresnet110_cifar10", "0386", "cc08946a2126a1224d1d2560a47cf766a763c52c", "v0.0.164"),
    ("PreActResNet110", "preresnet110_cifar100", "2267", "3954e91581b7f3e5f689385d15f618fe16e995af", "v0.0.191"),
    ("PreActResNet164", "preresnet164bn_cifar10", "0364", "429012d412e82df7961fa071f97c938530e1b005", "v0.0.196"),
    ("PreActResNet164", "preresnet164bn_cifar100", "2018", "a8e67ca6e14f88b009d618b0e9b554312d862174", "v0.0.192"),
    ("PreActResNet1001", "preresnet1001_cifar10", "0265", "9fedfe5fd643e7355f1062a6db68da310c8962be", "v0.0.209"),
    ("PreActResNet1001", "preresnet1001_cifar100", "1841", "88f14ed9df1573e98b0ec2a07009a15066855fda", "v0.0.283"),
    ("PreActResNet1202", "preresnet1202_cifar10", "0339", "6fc686b02191226f39e25a76fc5da26857f7acd9", "v0.0.246"),
]


def _releases():
    for model, name, error, sha1, tag in RELEASES:
        dataset = name.rsplit("_", 1)[1]
        basic = model.startswith("PreAct") and model[len("PreActResNet") :] in ("20", "56", "110", "1202")
        yield dict(
            model=model,
            name=dataset,
            url=URL.format(tag=tag, file=f"{name}-{error}-{sha1[:8]}.pth"),
            source="pytorchcv",
            source_hash="sha1:" + sha1,
            license=LICENSE,
            builder_options={"stem_activation": "none"} if basic else {},
            published_accuracy=f"top-1 error {int(error) / 100:.2f}% (pytorchcv {name}, {dataset} test set)",
            preprocessing="cifar_pytorchcv",
            input_shape=(32, 32, 3),
            classes=100 if dataset == "cifar100" else 10,
        )


def unpack(data, path):
    """The `.pth` inside a release zip (the zip holds that one file, read within the
    readers' bounds); a `.pth` itself, as it is."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
            return data  # a torch.save file of the zip layout
        if len(names) != 1 or not names[0].endswith(".pth"):
            raise CheckpointError(path, f"a zip holding {len(names)} files", "a pytorchcv release zip of one .pth")
        return read_zip_entry(archive, names[0], path, Budget(path, len(data)))


def read(data, path):
    return state_dict(torch_pickle.loads(data, path), path)


def layers(contents, arch):
    layers = state_dict_layers(contents, RULES, arch["version"], "pytorchcv")
    if arch["version"] == 1:
        return layers, {}
    # The first unit pre-activates itself. With a projection and no max-pool before
    # it, that equals the paper's shared stem activation exactly.
    if "stage1_unit1_shortcut_conv" in layers:
        return share_stem_activation(layers), {}
    return layers, {"stem_activation": "none"}


PUBLISHER = Publisher(
    name="pytorchcv",
    files="a .pth (torch.save state dict) or its release .pth.zip",
    license=LICENSE,
    models=frozenset({("cifar", 1), ("cifar", 2)}),
    unpack=unpack,
    read=read,
    layers=layers,
    releases=tuple(_releases()),
)
