#!/usr/bin/env bash
# The tutorial's certificate commands, as its readers type them, run with
# whatever `cfssl` and `cfssljson` come first in PATH (the real cfssl 1.2, or
# kpki through links of those names). Used by the tests, `make run` and the
# benchmark, so all three run exactly the same sequence.
#
#   tutorial-certs.sh OUT_DIR [API_ADDRESS] [KEY_ALGO]
#
# KEY_ALGO is "rsa" (2048, the tutorial's) or "ecdsa" (P-256).
# One fix to the tutorial: 10.32.0.1, the API's service IP, is in the
# apiserver's -hostname list (the tutorial forgets it and in-cluster clients
# then fail TLS).
set -euo pipefail

out=${1:?usage: tutorial-certs.sh OUT_DIR [API_ADDRESS] [KEY_ALGO]}
api=${2:-172.31.0.10}
algo=${3:-rsa}
here=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$out"
# Copied (and for ECDSA rewritten) without `sed -i`, which replaces each file
# and so deletes one: the benchmark runs this many times and should not
# leave the file system with deleted inodes to skip.
for f in "$here"/ca-config/*.json; do
  if [ "$algo" = ecdsa ]; then
    sed 's/"algo": "rsa"/"algo": "ecdsa"/; s/"size": 2048/"size": 256/' "$f" > "$out/$(basename "$f")"
  else
    cp "$f" "$out/"
  fi
done
cd "$out"

cfssl gencert -initca ca-csr.json | cfssljson -bare ca

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -profile=kubernetes admin-csr.json | cfssljson -bare admin

for i in 0 1 2; do
  instance=ip-172-31-0-2$i
  cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
    -hostname=${instance},172.31.0.2$i \
    -profile=kubernetes ${instance}-csr.json | cfssljson -bare ${instance}
done

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -profile=kubernetes kube-controller-manager-csr.json | cfssljson -bare kube-controller-manager

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -profile=kubernetes kube-proxy-csr.json | cfssljson -bare kube-proxy

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -profile=kubernetes kube-scheduler-csr.json | cfssljson -bare kube-scheduler

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -hostname=10.32.0.1,172.31.0.10,172.31.0.11,172.31.0.12,${api},127.0.0.1,kubernetes.default \
  -profile=kubernetes master-kubernetes-csr.json | cfssljson -bare master-kubernetes

cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=ca-config.json \
  -profile=kubernetes service-account-csr.json | cfssljson -bare service-account
