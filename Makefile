# pyrunc: `make demo` runs a real container, `make test` runs the whole suite (both install first).
SHELL := /bin/bash
PREFIX ?= /usr/local
REPO := $(abspath .)
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python
HOST_PYTHON ?= /usr/bin/python3
INIT := pyrunc/libexec/pyrunc-init
SCHEMA_SRC := /usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema
# What building pyrunc needs (make install), and what only the tests drive (make test, bench):
# peers, engines and the tools the tests call. The guest image holds both (DEB_PACKAGES).
BUILD_DEB_PACKAGES := gcc make libc6-dev musl-tools libseccomp-dev libffi-dev python3-venv python3-dev
TEST_DEB_PACKAGES := busybox-static runc crun procps iproute2 util-linux iptables \
	golang-github-opencontainers-specs-dev containerd docker.io docker-compose golang-github-containers-common \
	uidmap podman slirp4netns rootlesskit dbus-user-session
DEB_PACKAGES := $(BUILD_DEB_PACKAGES) $(TEST_DEB_PACKAGES)
# jeepney: only the tests (the D-Bus reference in tests/test_dbus_wire.py); pyrunc speaks D-Bus itself
PIP_PACKAGES := cffi pytest jsonschema wheel jeepney

.PHONY: install deps test-deps venv native launcher demo test bench clean vm-deps vm-image test-vm vm-run fuzz

install: deps venv native launcher

# Installs the Debian packages of $(1) that are missing.
install_debs = missing=$$(for p in $(1); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing </dev/null; \
	fi

deps:
	@$(call install_debs,$(BUILD_DEB_PACKAGES) $(EXTRA_DEB_PACKAGES))

test-deps:
	@$(call install_debs,$(TEST_DEB_PACKAGES))

# .venv/.done holds the PIP_PACKAGES it was made with: a changed list installs again.
venv:
	@[ -x $(PY) ] || $(HOST_PYTHON) -m venv $(VENV)
	@[ "$$(cat $(VENV)/.done 2>/dev/null)" = "$(PIP_PACKAGES)" ] || { \
		$(PY) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES) && \
		echo "$(PIP_PACKAGES)" > $(VENV)/.done; }

native: $(INIT) pyrunc/.native-built spec/schema/.done

# The init and the cffi extension are built by the same two scripts here and in the package
# build (setup.py: `pip install .`): native/build_init.py (static, musl-gcc where installed; the
# plan's C header generated from pyrunc/plan/__init__.py) and native/build_host.py.
$(INIT): pyrunc/plan/__init__.py pyrunc/plan/kernel.py native/build_init.py \
		$(wildcard native/init/*.c native/init/*.h) | venv
	$(PY) native/build_init.py $@ build

pyrunc/.native-built: $(wildcard native/host/*) native/build_host.py | venv
	$(PY) native/build_host.py
	touch $@

spec/schema/.done:
	mkdir -p spec/schema
	cp $(SCHEMA_SRC)/*.json spec/schema/
	touch $@

# The launcher runs the venv's interpreter with -I -S: no site, no user paths; every CLI call
# pays the interpreter's start, so nothing is imported that the command does not use, and the
# cyclic garbage collector is off from the first line (see LONG_RUNNING in pyrunc/cli.py), and
# pyrunc's own modules are loaded around importlib (install_fast_imports in pyrunc/__init__.py).
launcher: native
	@printf '%s\n' '#!$(PY) -IS' 'import gc' 'gc.disable()  # see LONG_RUNNING in pyrunc/cli.py' 'import sys' \
		"sys.path[0:0] = ['$(REPO)']" \
		"sys.path.append('$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')')" \
		'import pyrunc' 'pyrunc.install_fast_imports()' \
		'from pyrunc.cli import main' 'main()' > $(PREFIX)/bin/pyrunc.tmp
	chmod 755 $(PREFIX)/bin/pyrunc.tmp && mv $(PREFIX)/bin/pyrunc.tmp $(PREFIX)/bin/pyrunc
	git rev-parse HEAD > pyrunc/COMMIT 2>/dev/null || echo unknown > pyrunc/COMMIT
	$(PY) -m compileall -q pyrunc >/dev/null

demo: install
	@$(call install_debs,busybox-static)
	bash tests/demo.sh

# The tests find pyrunc, runc, docker and the rest by name: give them the system's paths first.
test: install test-deps
	PATH=$(PREFIX)/bin:/usr/sbin:/usr/bin:/sbin:/bin:$$PATH $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# The stock-host lane (vm/README.md): the same suite inside a Debian 12 guest with systemd as
# PID 1, pure cgroup v2 and AppArmor, booted under QEMU with no network. The image is cached
# under /var/cache/pyrunc-vm, keyed by its recipe and these package lists, and built from the
# host's apt mirror and PyPI when it is missing; the guest runs `make install` offline from it.
VM_HOST_PACKAGES := qemu-system-x86 debootstrap e2fsprogs python3-venv rsync
VM_IMAGE := DEB_PACKAGES='$(DEB_PACKAGES)' PIP_PACKAGES='$(PIP_PACKAGES)' vm/build-image.sh

vm-deps:
	@$(call install_debs,$(VM_HOST_PACKAGES))

vm-image: vm-deps
	@$(VM_IMAGE)

# make passes PYTEST_ARGS and CMD given on its command line in the environment; vm/run.sh hands
# PYTEST_ARGS on to the guest's `make test` (VM_PASS_ENV), and CMD is never re-quoted here.
# VM_LSM=selinux boots the same image with SELinux (permissive) instead of AppArmor:
#   make test-vm VM_LSM=selinux PYTEST_ARGS=tests/test_selinux.py
test-vm: vm-deps
	img=$$($(VM_IMAGE)) && vm/run.sh "$$img" 'make test'

# Any command in the guest, for debugging: make vm-run CMD='cat /proc/self/cgroup'
vm-run: vm-deps
	img=$$($(VM_IMAGE)) && vm/run.sh "$$img" "$$CMD"

# Coverage-guided fuzzing of config loading and planning, in-process (tests/fuzz_atheris.py),
# for FUZZ_SECONDS; any exception that is not a PyruncError stops it with the input, saved as
# build/fuzz/crash-*.  atheris is installed here only: neither `make install` nor the suite
# needs it.  The corpus stays in build/fuzz/corpus, so each run starts where the last ended.
FUZZ_SECONDS ?= 60
fuzz: install
	$(PY) -m pip install -q --disable-pip-version-check atheris
	mkdir -p build/fuzz/corpus
	cd build/fuzz && $(PY) $(REPO)/tests/fuzz_atheris.py -max_total_time=$(FUZZ_SECONDS) \
		-timeout=20 -rss_limit_mb=2048 corpus

bench: install test-deps
	$(PY) tests/bench/run.py $(BENCH_ARGS)

clean:
	rm -rf build $(INIT) pyrunc/_native*.so pyrunc/.native-built spec/schema
