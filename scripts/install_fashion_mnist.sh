#!/bin/sh
# Makes sure the Fashion-MNIST IDX files are in $FASHION_MNIST_DIR, installing Debian's
# dataset-fashion-mnist package when that is possible here. Exits 1, saying what to do,
# when it is not.
dir=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
have_all() { for f in $files; do [ -f "$dir/$f" ] || return 1; done; }
have_all && exit 0
if [ "$dir" = /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else sudo=none; fi
    if [ "$sudo" != none ]; then
        echo "Installing Fashion-MNIST: apt-get install dataset-fashion-mnist"
        $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
            { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; }
        have_all && exit 0
    fi
fi
cat >&2 <<MSG
Fashion-MNIST was not found in $dir and could not be installed here.
Either install Debian's package as root:   apt-get install dataset-fashion-mnist
or put the four IDX files ($files)
into a directory and pass it:              make demo FASHION_MNIST_DIR=/path/to/dir
MSG
exit 1
