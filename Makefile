# pyrunc: `make demo` runs a real container, `make test` runs the whole suite (both install first).
SHELL := /bin/bash
PREFIX ?= /usr/local
REPO := $(abspath .)
VENV := $(REPO)/.venv
PY := $(VENV)/bin/python
HOST_PYTHON ?= /usr/bin/python3
INIT := pyrunc/libexec/pyrunc-init
SCHEMA_SRC := /usr/share/gocode/src/github.com/opencontainers/runtime-spec/schema
DEB_PACKAGES := gcc make libc6-dev musl-tools libseccomp-dev libffi-dev python3-venv python3-dev \
	busybox-static runc crun procps iproute2 util-linux iptables golang-github-opencontainers-specs-dev \
	containerd docker.io docker-compose golang-github-containers-common
PIP_PACKAGES := cffi pytest jsonschema

.PHONY: install deps venv native launcher demo test bench clean vm-deps vm-image test-vm vm-run fuzz

install: deps venv native launcher

deps:
	@missing=$$(for p in $(DEB_PACKAGES) $(EXTRA_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing </dev/null; \
	fi

venv: $(VENV)/.done
$(VENV)/.done:
	$(HOST_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(PIP_PACKAGES)
	touch $@

native: $(INIT) pyrunc/.native-built spec/schema/.done

build/plan_ops.h: pyrunc/plan.py | venv
	mkdir -p build
	$(PY) -m pyrunc.plan --c-header > $@.tmp && mv $@.tmp $@

# The init is linked statically against musl: 95 KB instead of glibc's 720 KB, so copying it
# into the memfd and exec'ing it costs ~1 ms less on every create and exec.  musl-gcc leaves
# out /usr/include, so the kernel's uapi headers are offered alone, from build/kernel-include.
KINC := build/kernel-include
$(KINC)/.done:
	mkdir -p $(KINC)
	ln -sfn /usr/include/linux $(KINC)/linux
	ln -sfn /usr/include/asm-generic $(KINC)/asm-generic
	ln -sfn /usr/include/$$(gcc -print-multiarch)/asm $(KINC)/asm
	touch $@

$(INIT): build/plan_ops.h $(KINC)/.done $(wildcard native/init/*.c native/init/*.h)
	mkdir -p $(dir $@)
	musl-gcc -static -Os -Wall -Wextra -Werror -Ibuild -Inative/init -isystem $(KINC) \
		-o $@ native/init/*.c
	strip $@

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
	bash tests/demo.sh

# The tests find pyrunc, runc, docker and the rest by name: give them the system's paths first.
test: install
	PATH=$(PREFIX)/bin:/usr/sbin:/usr/bin:/sbin:/bin:$$PATH $(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# The stock-host lane (vm/README.md): the same suite inside a Debian 12 guest with systemd as
# PID 1, pure cgroup v2 and AppArmor, booted under QEMU with no network. The image is cached
# under /var/cache/pyrunc-vm, keyed by its recipe and these package lists, and built from the
# host's apt mirror and PyPI when it is missing; the guest runs `make install` offline from it.
VM_HOST_PACKAGES := qemu-system-x86 debootstrap e2fsprogs python3-venv
VM_IMAGE := DEB_PACKAGES='$(DEB_PACKAGES)' PIP_PACKAGES='$(PIP_PACKAGES)' vm/build-image.sh

vm-deps:
	@$(MAKE) --no-print-directory deps DEB_PACKAGES='$(VM_HOST_PACKAGES)'

vm-image: vm-deps
	@$(VM_IMAGE)

# make passes PYTEST_ARGS and CMD given on its command line in the environment; vm/run.sh hands
# PYTEST_ARGS on to the guest's `make test` (VM_PASS_ENV), and CMD is never re-quoted here.
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

bench: install
	$(PY) tests/bench/run.py

clean:
	rm -rf build $(INIT) pyrunc/_native*.so pyrunc/.native-built spec/schema
