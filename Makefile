# kpki: `make run` issues the cluster's certificate set and verifies it;
# `make test` installs the test dependencies and runs every test.

CARGO ?= cargo
export CARGO_BUILD_JOBS ?= 2
KPKI := target/release/kpki
OUT ?= pki

.PHONY: all build run test test-deps clean

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
	$(CARGO) test --locked --all-targets

clean:
	$(CARGO) clean
	rm -rf $(OUT)
