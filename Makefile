# gmem_pair: build, boot and test harness.  See README.md.
BUILD ?= $(CURDIR)/build
export BUILD

.PHONY: check check-main check-debug run shell test checkpatch kernel tests clean bench

# Everything: main, movablecore and debug (lockdep/KASAN) boots.
check:
	scripts/check.sh main movable debug

check-main:
	scripts/check.sh main movable

check-debug:
	scripts/check.sh debug

# One test by name: make test T=<name> [P=<profile>]
test:
	@test -n "$(T)" || { echo "usage: make test T=<test name> [P=main|movable|debug]"; exit 2; }
	ONLY=$(T) scripts/check.sh $(or $(P),main movable debug)

# The main job: boot the patched kernel and run the demo.
run: kernel tests
	scripts/run-demo.sh

# Interactive shell on the serial console of the main kernel (exit powers off).
shell: kernel tests
	SHELL_MODE=1 scripts/vm-run.sh main /dev/null $(BUILD)/runs/shell

kernel:
	scripts/deps.sh
	scripts/prepare-tree.sh
	scripts/build-kernel.sh main

tests: kernel
	scripts/build-tests.sh
	scripts/build-tools.sh

checkpatch:
	scripts/deps.sh
	scripts/prepare-tree.sh
	scripts/checkpatch.sh

clean:
	rm -rf $(BUILD)

# Benchmarks (not tests): prints ratios measured in one boot.
bench: tests
	scripts/vm-run.sh main $(CURDIR)/tests/plan.bench $(BUILD)/runs/bench
	cat $(BUILD)/runs/bench/*.out
