# The two commands of the README:
#   make demo   installs what the demo needs (virtualenv in .venv with the [train,export]
#               extras, Fashion-MNIST from Debian) and runs the main job: the `demo` recipe
#               through the trainer, evaluation, export
#   make test   installs everything the tests need ([all,test]: adds PyTorch and the other
#               peers of the converters) and runs them
# Versions come from constraints.txt (exact, tested together). The commands hide
# TensorFlow's start-up notices themselves; KERAS_PREACT_VERBOSE=1 shows them.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FASHION_MNIST_DIR ?= /usr/share/datasets/fashion-mnist
PYTEST_ARGS ?=
PIP_INSTALL := $(PY) -m pip install --quiet --no-compile -c constraints.txt

.PHONY: install install-demo data demo test clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# One stamp per set of extras: `make demo` never installs the test extras.
$(VENV)/.installed-demo: setup.cfg pyproject.toml constraints.txt | $(PY)
	$(PIP_INSTALL) -e '.[train,export]'
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml constraints.txt | $(PY)
	$(PIP_INSTALL) -e '.[all,test]'
	touch $@

install-demo: $(VENV)/.installed-demo

install: $(VENV)/.installed-test

data:
	@FASHION_MNIST_DIR=$(FASHION_MNIST_DIR) sh scripts/install_fashion_mnist.sh

demo: install-demo data
	$(VENV)/bin/keras-preact-demo --data-dir $(FASHION_MNIST_DIR) --workdir runs/demo

test: install
	@FASHION_MNIST_DIR=$(FASHION_MNIST_DIR) sh scripts/install_fashion_mnist.sh || \
		echo "Continuing without Fashion-MNIST: the tests that read it are skipped."
	$(PY) -m pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache
