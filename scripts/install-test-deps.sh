#!/usr/bin/env bash
# Installs what the tests run against, only where it is missing: the real
# cfssl 1.2, openssl, etcd 3.4 and kubectl from Debian; pkilint and the moto
# AWS emulator from PyPI. Safe to run again; does nothing when all are there.
set -euo pipefail

need_apt=()
command -v cfssl >/dev/null && command -v cfssljson >/dev/null || need_apt+=(golang-cfssl)
command -v openssl >/dev/null || need_apt+=(openssl)
command -v etcd >/dev/null || need_apt+=(etcd-server)
command -v etcdctl >/dev/null || need_apt+=(etcd-client)
command -v kubectl >/dev/null || need_apt+=(kubernetes-client)

if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing from Debian: ${need_apt[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

need_pip=()
command -v lint_pkix_cert >/dev/null || need_pip+=(pkilint)
command -v moto_server >/dev/null || need_pip+=('moto[ec2,elbv2,server]')
if [ ${#need_pip[@]} -gt 0 ]; then
  echo "installing from PyPI: ${need_pip[*]}" >&2
  python3 -m pip install -q "${need_pip[@]}"
  # pyenv keeps console scripts behind shims that need a rehash.
  command -v pyenv >/dev/null && pyenv rehash || true
fi

for tool in cfssl cfssljson openssl etcd etcdctl kubectl lint_pkix_cert moto_server; do
  command -v "$tool" >/dev/null || { echo "install-test-deps: $tool is still missing" >&2; exit 1; }
done
