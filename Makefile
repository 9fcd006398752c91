# gmem_pair: build, boot and test harness.  See README.md.
BUILD ?= $(CURDIR)/build
export BUILD

.PHONY: check check-main check-debug run shell test checkpatch kernel tests clean bench stress \
	series series-check

# Everything: the harness self-test (tests/harness-selftest.sh), then the
# main, movablecore, debug (lockdep/KASAN) and debug-movable boots.
check:
	scripts/check.sh main movable debug debug-movable

check-main:
	scripts/check.sh main movable

check-debug:
	scripts/check.sh debug debug-movable

# One test by name: make test T=<name> [P=<profile>]
test:
	@test -n "$(T)" || { echo "usage: make test T=<test name> [P=main|movable|debug|debug-movable]"; exit 2; }
	ONLY=$(T) scripts/check.sh $(or $(P),main movable debug debug-movable)

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

# The project as a patch series against the Debian base, for git am and
# the mailing lists: build/series/out (series/layout says what goes where).
series:
	scripts/deps.sh
	scripts/make-series.sh

# Build every step of that series (bzImage, main config; selftests and
# tools at the last step): "N patches, each builds".
series-check:
	scripts/series-check.sh

clean:
	rm -rf $(BUILD)

# Benchmarks (not tests, not part of check): tests/plan.bench booted twice,
# under QEMU -icount (instructions: the headline) and plain TCG; writes
# build/runs/bench/results.md and per-folio.png, prints the results, then
# judges both boots like test runs (fails on a failed benchmark or a splat).
bench: tests
	scripts/bench.sh

# Randomized stress against a model on the debug kernel (not part of check,
# which runs a 60 s slice): make stress [SECONDS=600] [SEED=n]
stress: tests
	scripts/build-kernel.sh debug
	scripts/stress.sh $(or $(SECONDS),600) $(SEED)
