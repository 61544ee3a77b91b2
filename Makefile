# Quick start: `make report` (the main job) and `make test`.
# Uses the active virtualenv / conda env if there is one, else creates .venv.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ifneq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
PY := python
ENV_DIR :=
else
PY := .venv/bin/python
ENV_DIR := .venv/bin/python
endif

STAMP := .install-stamp

.PHONY: help install report test test-ui bench data mutate mutate-recheck clean

help:
	@echo "make install   安装 (install the package with all extras into .venv or the active env)"
	@echo "make report    运行报告 (run the notebook suite into reports/)"
	@echo "make test      测试 (pytest + nbval)"
	@echo "make test-ui   浏览器测试 (Playwright + Chromium, installs Chromium if missing)"
	@echo "make bench     基准 (benchmarks/)"
	@echo "make mutate    变异测试 (mutmut on the rule modules, 2 workers, hours; results in benchmarks/mutation/)"
	@echo "make data      重新生成合成数据 (regenerate data/shihe from the fixed seed)"

.venv/bin/python:
	python3 -m venv .venv

$(STAMP): pyproject.toml $(ENV_DIR)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[all]"
	touch $(STAMP)

install: $(STAMP)

report: $(STAMP)
	$(PY) -m gridsim report --all-scenarios --out reports

test: $(STAMP)
	$(PY) -m pytest

test-ui: $(STAMP)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	GRIDSIM_UI_TESTS=1 $(PY) -m pytest tests/ui

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

# MUTATE_ARGS may name mutants, e.g. MUTATE_ARGS='"gridsim.pay*"'; MUTATE_CHILDREN workers (default 2).
# mutmut keeps its test-to-function map between runs and maps only *new* tests to a changed function, so a changed
# function would be checked against too few tests: the map is collected afresh on every run.
MUTATE_CHILDREN ?= 2
mutate: $(STAMP)
	rm -f mutants/mutmut-stats.json
	$(PY) -m mutmut run --max-children $(MUTATE_CHILDREN) $(MUTATE_ARGS) || true
	$(PY) benchmarks/mutation/summarize.py

# the last run's survivors against today's tests (each applied, its module's tests run, the source restored)
mutate-recheck: $(STAMP)
	$(PY) benchmarks/mutation/recheck.py
	$(PY) benchmarks/mutation/summarize.py

data: $(STAMP)
	$(PY) -m gridsim synth --out data/shihe

clean:
	rm -rf .venv $(STAMP) reports/*/ reports/index.html
