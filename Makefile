# The two commands of the README:
#   make demo   installs everything (virtualenv in .venv, Fashion-MNIST from Debian) and
#               runs the main job: the `demo` recipe through the trainer, evaluation, export
#   make test   installs what the tests need and runs them
# Versions come from constraints.txt (exact, tested together).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=
# TensorFlow's C++ start-up notices (oneDNN, CUDA probing) hidden; errors still show.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install data demo test clean

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -c constraints.txt -e '.[all,test]'
	touch $@

install: $(VENV)/.installed

data:
	@FASHION_MNIST_DIR=$(FASHION_MNIST_DIR) sh scripts/install_fashion_mnist.sh

demo: install data
	$(PY) -m keras_preact.demo --data-dir $(FASHION_MNIST_DIR) --workdir runs/demo

test: install
	@FASHION_MNIST_DIR=$(FASHION_MNIST_DIR) sh scripts/install_fashion_mnist.sh || \
		echo "Continuing without Fashion-MNIST: the tests that read it are skipped."
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
