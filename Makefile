# Test infrastructure of the uwsgi.topology collection.
#
#   make test      venv, binaries, unit, sanity, lint, realbin, e2e, molecule, in that order;
#                  stops at the first failure and prints each stage's duration
#                  (this is what .ci/run runs, on a fresh Debian 12 as root)
#
#   make venv      .venv (python3.11 -m venv) + tests/requirements.txt; pip runs
#                  only when that file changed (hash stamp .venv/.requirements.sha256)
#   make apt       Debian packages (scripts/apt-deps.sh); nothing runs when all
#                  are installed, else one `apt-get update` + `apt-get install`
#   make binaries  apt, then uWSGI 2.0.31 built from PyPI source in
#                  .build/uwsgi-pypi (with SSL, zlib, pcre), Debian's uwsgi-core
#                  2.0.21, both verified; writes .build/uwsgi-builds.env
#                  (scripts/uwsgi-builds.sh; its header records which
#                  `plugin =` lines Debian's build needs per router)
#   make unit      pytest tests/unit
#   make sanity    ansible-test sanity --python 3.11 --requirements, from a copy
#                  in .build/sanity/ansible_collections/uwsgi/topology, with its
#                  own venv .build/venv-sanity (scripts/sanity.sh says why)
#   make core-2.17, make core-2.18   unit tests and the version-dependent sanity tests on that minor
#                  (meta/runtime.yml claims >=2.17), each in its own venv .build/venv-sanity-<minor>
#                  (scripts/core-compat.sh); 2.19 is .venv's, tested by make sanity and make unit
#   make docs      role READMEs up to date with their argument specs, antsibull-docs
#                  lint-collection-docs, and the docs site (antsibull-docs + Sphinx, offline,
#                  warnings are errors) in .build/docs/html (scripts/docs.sh; tools venv
#                  .build/venv-tools from tests/requirements-tools.txt)
#   make role-readmes  rewrite roles/*/README.md from the argument specs (scripts/role_readmes.py)
#   make changelog antsibull-changelog lint, fragment types, a trial release's notes (scripts/changelog-check.sh)
#   make galaxy    the built tarball: only collection files, galaxy-importer clean apart from the
#                  missing repository URL (scripts/galaxy-check.sh; venv .build/venv-galaxy-importer)
#   make ee        ansible-builder: introspect the installed tarball, `create` a build context from
#                  extensions/ee/execution-environment.yml (scripts/ee-check.sh)
#   make lint      ansible-lint --profile production (config: .ansible-lint), offline
#   make realbin   pytest tests/realbin with .build/uwsgi-builds.env exported
#   make e2e       pytest tests/e2e: site.yml on the local inventory, broken inventories, Galaxy install
#   make molecule  the Molecule scenarios in containers (extensions/molecule/run.sh; SCENARIOS="a b")
#   make bench     python tests/bench/bench_compile.py
#   make bench-play  python tests/bench/bench_play.py: the site play's re-run (tasks, wall time)
#                  against commit a03b93d, and for 1, 5 and 20 local hosts (BENCH_ARGS="--rounds 1")
#   make bench-router  python tests/bench/bench_router.py: the http/https routers of the bundled
#                  default (and option variants, 1 vs 2 replicas) against nginx, same nodes, wrk
#                  (BENCH_ARGS="--rounds 1 --paths small"; --help lists the options)
#   make bench-changes  python tests/bench/bench_changes.py: the day-2 changes of the Molecule scenario
#                  operations on the bundled default, each under a bounded load (8 threads, http
#                  and https with SNI): requests, failures by cause, durations (BENCH_ARGS="--replicas 2")
#   make demo      ansible-playbook site.yml
#   make clean     remove .build and tests/output (keeps .venv); distclean: also .venv
#
# How tests import the collection: unit and realbin run against the live tree
# through the symlink .build/collections/ansible_collections/uwsgi/topology ->
# <repo root> (absolute, computed at run time by scripts/collection-link.sh; the same link
# tests/unit/conftest.py makes) with PYTHONPATH=.build/collections.  Sanity
# cannot use that link (ansible-test resolves it and then refuses a path that
# is not .../ansible_collections/uwsgi/topology), so it runs from a real copy.
#
# Every target is idempotent and skips expensive work that is already done,
# but never relies on it: on a fresh machine each creates what it needs.
# pytest's exit status 5 (no tests collected) counts as a failure.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
MAKEFLAGS += --no-print-directory

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(PATH)
export PYTHON ?= python3.11

# Extra arguments, e.g. make unit PYTEST_ARGS="-k vassal -x"
PYTEST_ARGS ?=
SANITY_ARGS ?=
LINT_ARGS ?=

TEST_STAGES := venv binaries unit sanity core-2.17 core-2.18 lint docs changelog galaxy ee realbin e2e molecule

.PHONY: test venv apt binaries unit sanity lint realbin e2e bench demo clean distclean help

test:
	@MAKE="$(MAKE)" $(ROOT)/scripts/test-all.sh $(TEST_STAGES)

help:
	@sed -n '1,/^$$/p' $(ROOT)/Makefile | sed 's/^# \{0,1\}//'

venv:
	@$(ROOT)/scripts/venv.sh

apt:
	@$(ROOT)/scripts/apt-deps.sh

binaries: apt
	@$(ROOT)/scripts/uwsgi-builds.sh

unit: venv
	@$(ROOT)/scripts/pytest.sh tests/unit $(PYTEST_ARGS)

# apt: the shellcheck sanity test needs Debian's shellcheck
sanity: venv apt
	@$(ROOT)/scripts/sanity.sh $(SANITY_ARGS)

# Sanity and unit tests on the older ansible-core minors that meta/runtime.yml claims: the
# version-dependent sanity tests (CORE_SANITY=all: every one; scripts/core-compat.sh says why).
# (apt: shellcheck, for CORE_SANITY=all as for make sanity)
CORE_SANITY ?=
.PHONY: core-2.17 core-2.18
core-2.17 core-2.18: apt
	@CORE_SANITY="$(CORE_SANITY)" $(ROOT)/scripts/core-compat.sh $(patsubst core-%,%,$@) $(SANITY_ARGS)

# The collection's documentation: role READMEs, lint-collection-docs, the site (.build/docs/html).
.PHONY: docs role-readmes
docs:
	@$(ROOT)/scripts/docs.sh

role-readmes:
	@$(ROOT)/scripts/venv.sh $(ROOT)/.build/venv-tools tests/requirements-tools.txt antsibull_docs_parser
	@$(ROOT)/.build/venv-tools/bin/python $(ROOT)/scripts/role_readmes.py

.PHONY: changelog galaxy ee
changelog:
	@$(ROOT)/scripts/changelog-check.sh

galaxy:
	@$(ROOT)/scripts/galaxy-check.sh

ee:
	@$(ROOT)/scripts/ee-check.sh

# The collection link first: the syntax checks resolve uwsgi.topology.* through it
# (ansible.cfg's collections_path), also when lint runs alone on a fresh clone.
lint: venv
	@$(ROOT)/scripts/collection-link.sh >/dev/null
	@cd $(ROOT) && $(VENV)/bin/ansible-lint --profile production $(LINT_ARGS)

realbin: venv binaries
	@$(ROOT)/scripts/pytest.sh --uwsgi-env tests/realbin $(PYTEST_ARGS)

# The local default end to end (deploy, verify, changed=0, check mode, teardown), the
# broken-inventory table through the real play, and the Galaxy build/install/FQCN run.
e2e: venv apt
	@$(ROOT)/scripts/pytest.sh tests/e2e $(PYTEST_ARGS)

bench: venv
	@cd $(ROOT) && $(VENV)/bin/python tests/bench/bench_compile.py

# make bench-play BENCH_ARGS="--skip-baseline --hosts 1,5"   (--help lists the options)
BENCH_ARGS ?=
.PHONY: bench-play
bench-play: venv apt
	@$(ROOT)/scripts/collection-link.sh >/dev/null
	@cd $(ROOT) && $(VENV)/bin/python tests/bench/bench_play.py $(BENCH_ARGS)

# make bench-router BENCH_ARGS="--reuse --rounds 1"   (apt: nginx, wrk, gcc for the SNI shim;
# installed here only, not by `make apt`: Debian's nginx package may start a service on port 80)
.PHONY: bench-router
bench-router: venv apt
	@$(ROOT)/scripts/apt-deps.sh nginx wrk
	@$(ROOT)/scripts/collection-link.sh >/dev/null
	@cd $(ROOT) && $(VENV)/bin/python tests/bench/bench_router.py $(BENCH_ARGS)

# make bench-changes BENCH_ARGS="--replicas 2 --changes baseline,router-option"   (--help lists the options)
.PHONY: bench-changes
bench-changes: venv apt
	@$(ROOT)/scripts/collection-link.sh >/dev/null
	@cd $(ROOT) && $(VENV)/bin/python tests/bench/bench_changes.py $(BENCH_ARGS)

# make demo ARGS="--check --diff"   /   make demo ARGS="-e uwsgi_topology_state=absent"
ARGS ?=
demo:
	@$(ROOT)/scripts/demo.sh $(ARGS)

clean:
	rm -rf $(ROOT)/.build $(ROOT)/tests/output

distclean: clean
	rm -rf $(VENV)

# make molecule   the Molecule scenarios in real containers (extensions/molecule/run.sh): a Docker engine
#                 (scripts/docker-engine.sh), the base image (scripts/base-image.sh), the
#                 collection link, then `molecule test` for each scenario of extensions/molecule/ with
#                 extensions/molecule/config.yml as base config; prints each scenario's duration.
#                 SCENARIOS="default sni" runs only those. The last stage of make test.
SCENARIOS ?=
.PHONY: molecule
molecule: venv
	@$(ROOT)/extensions/molecule/run.sh $(SCENARIOS)
