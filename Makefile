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

# Until `kpki bootstrap` lands this runs the tutorial's own cfssl commands with
# kpki standing in for cfssl, then checks every certificate with openssl.
run: build
	@rm -rf .run-links && mkdir -p .run-links
	@ln -sf ../$(KPKI) .run-links/cfssl && ln -sf ../$(KPKI) .run-links/cfssljson
	PATH="$(CURDIR)/.run-links:$$PATH" scripts/tutorial-certs.sh $(OUT)
	@for f in $(OUT)/*.pem; do case $$f in *-key.pem) ;; *) openssl verify -x509_strict -CAfile $(OUT)/ca.pem $$f ;; esac; done

test-deps:
	scripts/install-test-deps.sh

test: test-deps
	$(CARGO) test --locked --all-targets

clean:
	$(CARGO) clean
	rm -rf $(OUT) .run-links
