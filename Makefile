# kpki: `make run` issues the cluster's certificate set and verifies it;
# `make test` installs the test dependencies and runs every test.

CARGO ?= cargo
export CARGO_BUILD_JOBS ?= 2
KPKI := target/release/kpki
OUT ?= pki

.PHONY: all build run test test-deps bench bench-check clean

all: build

build:
	$(CARGO) build --release --locked

# The main job on the embedded seed cluster: the whole set, then the check CI runs.
run: build
	$(KPKI) bootstrap --out $(OUT)
	$(KPKI) verify --dir $(OUT)
	$(KPKI) check-expiration --dir $(OUT)

test-deps:
	scripts/install-test-deps.sh

test: test-deps
	$(CARGO) test --locked

# Not part of `make test`: kpki against cfssl 1.2 and the tutorial's aws CLI
# sequence in the same run; writes BENCHMARKS.md.
bench: build test-deps
	command -v aws >/dev/null || python3 -m pip install -q awscli
	python3 bench/bench.py --rounds 5 --write BENCHMARKS.md

# The same, exiting non-zero when a ratio is below its target.
bench-check: build test-deps
	command -v aws >/dev/null || python3 -m pip install -q awscli
	python3 bench/bench.py --rounds 3 --check

clean:
	$(CARGO) clean
	rm -rf $(OUT)
