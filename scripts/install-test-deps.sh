#!/usr/bin/env bash
# Installs what the tests run against, only where it is missing: the real
# cfssl 1.2, openssl, etcd 3.4, kubectl and groff (man pages) from Debian; pkilint and the moto
# AWS emulator from PyPI. Safe to run again; does nothing when all are there.
set -euo pipefail

need_apt=()
command -v cfssl >/dev/null && command -v cfssljson >/dev/null || need_apt+=(golang-cfssl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v etcdctl >/dev/null || need_apt+=(etcd-client)
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)
command -v groff >/dev/null || need_apt+=(groff-base)
# A real PKCS#11 token for the CA-key-in-an-HSM tests, and OpenSC's
# pkcs11-tool to make keys in it and read their public halves independently.
command -v softhsm2-util >/dev/null || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null || need_apt+=(opensc)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing from Debian: ${need_apt[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

need_pip=()
command -v lint_pkix_cert >/dev/null || need_pip+=(pkilint)
# PyYAML reads the YAML kpki writes in the tests (an independent parser).
python3 -c 'import yaml' 2>/dev/null || need_pip+=(pyyaml)
# python cryptography reads the PKCS#12 files `kpki p12` writes (an independent reader).
python3 -c 'import cryptography' 2>/dev/null || need_pip+=(cryptography)
python3 -c 'import moto.kms, moto.server' 2>/dev/null || need_pip+=('moto[ec2,elbv2,kms,server]')
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "installing from PyPI: ${need_pip[*]}" >&2
  python3 -m pip install -q "${need_pip[@]}"
  # pyenv keeps console scripts behind shims that need a rehash.
  command -v pyenv >/dev/null && pyenv rehash || true
fi

for tool in cfssl cfssljson openssl etcd etcdctl kubectl lint_pkix_cert moto_server softhsm2-util pkcs11-tool; do
  command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing" >&2; exit 1; }
done
python3 -c 'import yaml' || { echo "install-test-deps: PyYAML is still missing" >&2; exit 1; }
test -f /usr/lib/softhsm/libsofthsm2.so || { echo "install-test-deps: SoftHSM's module /usr/lib/softhsm/libsofthsm2.so is missing" >&2; exit 1; }
python3 -c 'import cryptography' || { echo "install-test-deps: python cryptography is still missing" >&2; exit 1; }
# The comparison tests need the real cfssl 1.2 first on PATH, not kpki through a link.
cfssl version | grep -qx 'Version: 1.2.0' || { echo "install-test-deps: 'cfssl' on PATH is not cfssl 1.2.0 ($(command -v cfssl)); put the real one first" >&2; exit 1; }
