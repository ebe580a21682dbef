#!/usr/bin/env bash
# Writes the seed corpus (fuzz/corpus/<target>/seed-*) from the repository's
# own inputs, kpki's output and openssl's: valid files of every kind each
# target reads, for libFuzzer to mutate. The keys are throwaway test keys.
# Usage: fuzz/seed.sh [KPKI_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
kpki=${1:-$root/target/release/kpki}
c=$here/corpus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$c"/{csr_json,signing_config,cluster_config,cert,key,csr_pem,cfssljson,k8s_files,ca_sign,plan_json,existing_set}

for f in "$root"/ca-config/*-csr.json; do cp "$f" "$c/csr_json/seed-$(basename "$f")"; done
"$kpki" print-defaults csr > "$c/csr_json/seed-default-csr.json"
printf '{"CN":"e","key":{"algo":"ed25519"},"hosts":["a.example","10.0.0.1","me@example.com","https://x.example/p"],"ca":{"expiry":"87600h","pathlen":1}}' > "$c/csr_json/seed-ed25519.json"
printf '{"CN":"p","key":{"algo":"ecdsa","size":384},"names":[{"C":"DE","ST":"Berlin","L":"Berlin","O":"o","OU":"u","SerialNumber":"7"}],"ca":{"pathlenzero":true,"pathlen":0}}' > "$c/csr_json/seed-p384.json"

cp "$root/ca-config/ca-config.json" "$c/signing_config/seed-ca-config.json"
"$kpki" print-defaults config > "$c/signing_config/seed-default-config.json"
printf '{"signing":{"default":{"expiry":"30d","usages":["signing","cert sign"],"ca_constraint":{"is_ca":true,"max_path_len":0,"max_path_len_zero":true}},"profiles":{"a":{"expiry":"1h","usages":["client auth","server auth","email protection","code signing"]}}}}' > "$c/signing_config/seed-ca-profile.json"

"$kpki" print-defaults cluster > "$c/cluster_config/seed-cluster.toml"
sed 's/key_algo = "rsa-2048"/key_algo = "ecdsa-p256"/' "$c/cluster_config/seed-cluster.toml" > "$c/cluster_config/seed-cluster-ec.toml"

# A whole bootstrap set: certificates, keys, kubeconfigs, encryption config.
cfg=$work/ec.toml
cp "$c/cluster_config/seed-cluster-ec.toml" "$cfg"
"$kpki" bootstrap --config "$cfg" --out "$work/set" >/dev/null 2>&1
for f in ca admin master-kubernetes ip-172-31-0-20; do cp "$work/set/$f.pem" "$c/cert/seed-$f.pem"; done
openssl x509 -in "$work/set/master-kubernetes.pem" -outform DER -out "$c/cert/seed-master-kubernetes.der"
cat "$work/set/admin.pem" "$work/set/ca.pem" > "$c/cert/seed-chain.pem"
cp "$work/set/admin.kubeconfig" "$c/k8s_files/seed-admin.kubeconfig"
cp "$work/set/encryption-config.yaml" "$c/k8s_files/seed-encryption-config.yaml"

# Keys in every encoding kpki reads.
openssl genrsa -traditional -out "$c/key/seed-rsa-pkcs1.pem" 2048 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$c/key/seed-p256-sec1.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$c/key/seed-p384-pkcs8.pem"
openssl genpkey -algorithm ED25519 -out "$c/key/seed-ed25519-pkcs8.pem"
# Encrypted with a low iteration count so that mutants of it run quickly.
openssl pkcs8 -topk8 -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 -passout pass:kpki-fuzz \
  -in "$c/key/seed-p384-pkcs8.pem" -out "$c/key/seed-p384-encrypted.pem"

# CSRs, RSA and EC, with SANs.
openssl req -new -key "$c/key/seed-rsa-pkcs1.pem" -subj "/C=US/O=system:nodes/CN=system:node:ip-172-31-0-20" \
  -addext "subjectAltName=DNS:ip-172-31-0-20,IP:172.31.0.20,email:a@example.com,URI:https://x.example" -out "$c/csr_pem/seed-rsa.csr"
openssl req -new -key "$c/key/seed-p256-sec1.pem" -subj "/CN=kubernetes/O=Kubernetes" \
  -addext "subjectAltName=DNS:kubernetes.default,IP:10.32.0.1,IP:::1" -out "$c/csr_pem/seed-p256.csr"

# cfssl's JSON: the bare object gencert prints and the API envelope.
"$kpki" gencert -ca "$work/set/ca.pem" -ca-key "$work/set/ca-key.pem" "$c/csr_json/seed-admin-csr.json" > "$c/cfssljson/seed-bare.json" 2>/dev/null
python3 - "$c/cfssljson/seed-bare.json" "$c/cfssljson/seed-envelope.json" <<'P'
import json, sys
bare = json.load(open(sys.argv[1]))
json.dump({"success": True, "result": bare, "errors": [], "messages": []}, open(sys.argv[2], "w"))
P
printf '{"success":false,"result":null,"errors":[{"code":1000,"message":"bad request"}],"messages":[]}' > "$c/cfssljson/seed-failed.json"
# A user CA to sign with: kpki's, and an RSA one made by openssl.
cat "$work/set/ca.pem" "$work/set/ca-key.pem" > "$c/ca_sign/seed-kpki-p256-ca.pem"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/rsa-ca-key.pem" -subj "/C=US/O=Example/CN=Example RSA CA" -days 30 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$work/rsa-ca.pem" 2>/dev/null
cat "$work/rsa-ca-key.pem" "$work/rsa-ca.pem" > "$c/ca_sign/seed-openssl-rsa-ca.pem"
# The plan a set records.
cp "$work/set/plan.json" "$c/plan_json/seed-plan.json"
# A member file of an existing set (first byte picks which file it replaces);
# named without its extension so no seed looks like a committed key file.
for f in ca.pem admin.pem admin-key.pem admin.kubeconfig encryption-config.yaml; do
  { printf "\\x$(printf %02x "$(( $(cksum <<<"$f" | cut -d' ' -f1) % 256 ))")"; cat "$work/set/$f"; } > "$c/existing_set/seed-${f//./-}"
done
echo "seed corpus written to $c"
