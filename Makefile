# kpki: `make run` issues the cluster's certificate set and verifies it;
# `make test` installs the test dependencies and runs every test.

CARGO ?= cargo
export CARGO_BUILD_JOBS ?= 2
# The binary cargo builds (honours CARGO_TARGET_DIR).
KPKI := $(or $(CARGO_TARGET_DIR),target)/release/kpki
OUT ?= pki
PREFIX ?= /usr/local

.PHONY: all build install run test test-deps bench-build bench bench-check bench-serve bench-keystore fuzz fuzz-deps clean

all: build

build:
	$(CARGO) build --release --locked

# The main job on the embedded seed cluster: the whole set, then the check CI runs.
run: build
	$(KPKI) bootstrap --out $(OUT)
	$(KPKI) verify --dir $(OUT)
	$(KPKI) check-expiration --dir $(OUT)

# bin/kpki, and cfssl's names as links in lib/kpki/cfssl-bin: put that
# directory first in PATH to run scripts with kpki as cfssl; nothing is
# linked over a cfssl already installed.
install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/kpki/cfssl-bin
	install -m 0755 $(KPKI) $(DESTDIR)$(PREFIX)/bin/kpki
	for n in cfssl cfssljson cfssl-certinfo cfssl-bundle cfssl-mkbundle cfssl-newkey mkbundle; do \
		ln -sfn ../../../bin/kpki $(DESTDIR)$(PREFIX)/lib/kpki/cfssl-bin/$$n; done

test-deps:
	scripts/install-test-deps.sh

test: test-deps
	$(CARGO) test --locked

# Not part of `make test`: kpki against cfssl 1.2 and the tutorial's aws CLI
# sequence in the same run, each job one command timed from a shell; writes
# BENCHMARKS.md. The ops example times one aws-lc RSA keygen for the floor.
bench-build: build
	$(CARGO) build --release --locked --example ops

bench: bench-build test-deps
	command -v aws >/dev/null || python3 -m pip install -q awscli
	python3 bench/bench.py --rounds 5 --write BENCHMARKS.md
	python3 bench/keystore_bench.py --rounds 10 --write BENCHMARKS.md

# The P-256 set with the CA key in SoftHSM vs in a file (also part of `make bench`).
bench-keystore: build test-deps
	python3 bench/keystore_bench.py --rounds 10 --write BENCHMARKS.md

# The same, exiting non-zero when a target is missed.
bench-check: bench-build test-deps
	command -v aws >/dev/null || python3 -m pip install -q awscli
	python3 bench/bench.py --rounds 3 --check

# Not part of `make test`: each fuzz target (fuzz/fuzz_targets) under
# libFuzzer + AddressSanitizer for FUZZ_SECONDS, starting from the committed
# seed corpus and the regression inputs. New inputs go to fuzz/run/ (not committed); a crash stops the
# run and leaves its input in fuzz/artifacts/<target>/. `make test` replays
# fuzz/corpus and fuzz/regressions through the same harnesses.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= csr_json signing_config cluster_config cert key csr_pem cfssljson k8s_files ca_sign plan_json existing_set

fuzz-deps:
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked

fuzz: fuzz-deps
	cd fuzz && $(CARGO) +nightly fuzz build -O
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  mkdir -p run/$$t && \
	  $(CARGO) +nightly fuzz run -O $$t run/$$t corpus/$$t $$(test -d regressions/$$t && echo regressions/$$t) -- \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=20 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 || exit 1; \
	done

# Build output only: the set in $(OUT) holds the CA's private key and is
# never deleted by make.
clean:
	$(CARGO) clean
	rm -rf fuzz/target fuzz/run fuzz/artifacts

# kpki serve vs cfssl serve under wrk (issue 16's performance targets); writes BENCHMARKS.md's serve section.
bench-serve: bench-build test-deps
	command -v wrk >/dev/null || { sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; $$sudo apt-get install -y -qq wrk; }
	python3 bench/serve_bench.py --rounds 3 --write BENCHMARKS.md
