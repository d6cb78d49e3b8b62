#!/usr/bin/env bash
# IKE_SA + CHILD_SA setups, side by side in the same two namespaces over the same veth: two strongSwan charons (5.9,
# kernel-libipsec), then (charons stopped) two Certgate endpoints, each its own process (bench harness ike-setups
# --role initiator|responder, UDP 500 on the same addresses, the same certificate files). Same suite on both:
# AES-GCM-16-256, PRF-HMAC-SHA-256, ECP-256, RSA-2048 certificates from one CA, RFC 7427 signatures, one AES-GCM
# child. Also prints the machine's load average before each half, since the machine is shared.
#
# usage: sudo bench/ike-setups.sh [SETUPS]     (root; Debian strongswan-charon strongswan-swanctl strongswan-pki)
# strongSwan's time per setup is read from charon's own log (first IKE_SA_INIT sent to CHILD_SA established), so
# swanctl's start-up (~35 ms a call) is not counted against it; setups run one after another on both sides.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
N=${1:-100}
[ "$(id -u)" -eq 0 ] || { echo "ike-setups: needs root (network namespaces)" >&2; exit 2; }
TAG=$$ NA=cgiA$$ NB=cgiB$$
W=$(mktemp -d /tmp/cg-ikebench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.3
  ip netns del "$NA" 2>/dev/null || true; ip netns del "$NB" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

mkdir -p "$W/pki"; cd "$W/pki"
echo 'pki { load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey }' > "$W/pki.conf"
export STRONGSWAN_CONF=$W/pki.conf
pki --gen --type rsa --size 2048 --outform pem > ca.key
pki --self --ca --lifetime 30 --in ca.key --dn "O=Certgate Bench, CN=Bench Root CA" --outform pem > ca.crt
for h in a b; do
  pki --gen --type rsa --size 2048 --outform pem > $h.key
  pki --req --type priv --in $h.key --dn "O=Certgate Bench, CN=gw-$h.bench" --san gw-$h.bench --outform pem > $h.csr
  pki --issue --cacert ca.crt --cakey ca.key --type pkcs10 --in $h.csr --lifetime 30 --outform pem > $h.crt
done
unset STRONGSWAN_CONF
ip netns add "$NA"; ip netns add "$NB"
ip link add "ia$TAG" type veth peer name "ib$TAG"
ip link set "ia$TAG" netns "$NA"; ip link set "ib$TAG" netns "$NB"
ip -n "$NA" addr add 10.98.0.1/24 dev "ia$TAG"; ip -n "$NB" addr add 10.98.0.2/24 dev "ib$TAG"
for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
ip -n "$NA" link set "ia$TAG" up; ip -n "$NB" link set "ib$TAG" up
ip -n "$NA" addr add 10.99.1.1/32 dev lo; ip -n "$NB" addr add 10.99.2.1/32 dev lo   # libipsec routes need a source inside local_ts

conf() {  # NAME LOCAL REMOTE LTS RTS PEERID
  local D=$W/$1
  for s in x509 x509ca x509crl x509ocsp x509aa x509ac private pubkey rsa ecdsa bliss pkcs8 pkcs12; do mkdir -p "$D/swanctl/$s"; done
  mkdir -p "$D/run"
  cp "$W/pki/ca.crt" "$D/swanctl/x509ca/"; cp "$W/pki/$1.crt" "$D/swanctl/x509/"; cp "$W/pki/$1.key" "$D/swanctl/private/"
  cat > "$D/strongswan.conf" <<EOT
charon {
  load = random nonce openssl kdf pem pkcs1 pkcs8 x509 revocation constraints pubkey kernel-libipsec kernel-netlink socket-default vici
  filelog { log { path = $D/charon.log
                  time_format = %s
                  time_add_ms = yes
                  default = 1 } }
  plugins { vici { socket = unix://$D/charon.vici } }
}
swanctl { socket = unix://$D/charon.vici
          load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey }
EOT
  cat > "$D/swanctl/swanctl.conf" <<EOT
connections { gw { version = 2
  local_addrs = $2
  remote_addrs = $3
  proposals = aes256gcm16-prfsha256-ecp256
  local { auth = pubkey
          certs = $1.crt }
  remote { auth = pubkey
           id = "$6" }
  children { net { local_ts = $4
                   remote_ts = $5
                   esp_proposals = aes256gcm16
                   start_action = none } } } }
EOT
}
conf a 10.98.0.1 10.98.0.2 10.99.1.0/24 10.99.2.0/24 "O=Certgate Bench, CN=gw-b.bench"
conf b 10.98.0.2 10.98.0.1 10.99.2.0/24 10.99.1.0/24 "O=Certgate Bench, CN=gw-a.bench"
for side in a:"$NA" b:"$NB"; do
  ns=${side#*:} D=$W/${side%%:*}
  ip netns exec "$ns" sh -c "mount --bind $D/run /run && STRONGSWAN_CONF=$D/strongswan.conf exec /usr/lib/ipsec/charon" > "$D/charon.out" 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do [ -S "$D/charon.vici" ] && break; sleep 0.05; done
  STRONGSWAN_CONF=$D/strongswan.conf SWANCTL_DIR=$D/swanctl swanctl --load-all --noprompt >/dev/null
done
export STRONGSWAN_CONF=$W/a/strongswan.conf
load_ss=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date +%s.%N)
for i in $(seq "$N"); do
  swanctl --initiate --child net --ike gw >/dev/null || { echo "strongSwan setup $i failed" >&2; cat "$W/a/charon.log" "$W/b/charon.log" | tail -n 40 >&2; exit 1; }
  swanctl --terminate --ike gw >/dev/null
done
end=$(date +%s.%N)
unset STRONGSWAN_CONF
# charon's own time per setup: from "initiating IKE_SA" to "CHILD_SA ... established" (time_format %s.ms).
ss_ms=$(awk '/initiating IKE_SA gw/ { t=$1 } /CHILD_SA net\{[0-9]+\} established/ && t { sum += ($1 - t) * 1000; n++; t=0 }
             END { if (n) printf "%.2f", sum / n; else print "nan" }' "$W/a/charon.log")
ss_n=$(grep -c "CHILD_SA net{[0-9]*} established" "$W/a/charon.log" || true)
wall=$(python3 -c "print(round(($end-$start)/$N*1000,1))")

# The charons go (they hold UDP 500 on the same addresses); then Certgate's two ends, one per namespace.
for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
PIDS=()
cd "$ROOT"
dotnet build bench/Certgate.Bench -c Release -nologo -clp:ErrorsOnly -v:q >/dev/null
DLL=$ROOT/bench/Certgate.Bench/bin/Release/net10.0/Certgate.Bench.dll
P=$W/pki
ip netns exec "$NB" dotnet "$DLL" ike-setups --role responder --local 10.98.0.2 --cert "$P/b.crt" --key "$P/b.key" --ca "$P/ca.crt" --setups "$N" > "$W/cg-b.out" 2>&1 &
PIDS+=($!)
for i in $(seq 200); do grep -q ready "$W/cg-b.out" 2>/dev/null && break; sleep 0.05; done
grep -q ready "$W/cg-b.out" || { echo "Certgate responder did not start:" >&2; cat "$W/cg-b.out" >&2; exit 1; }
load_cg=$(cut -d' ' -f1-3 /proc/loadavg)
cg=$(ip netns exec "$NA" dotnet "$DLL" ike-setups --role initiator --local 10.98.0.1 --remote 10.98.0.2 --cert "$P/a.crt" --key "$P/a.key" --ca "$P/ca.crt" --setups "$N" 2>"$W/cg-a.err") \
  || { echo "Certgate initiator failed:" >&2; cat "$W/cg-b.out" >&2; exit 1; }
wait "${PIDS[0]}" || { echo "Certgate responder failed:" >&2; cat "$W/cg-b.out" >&2; exit 1; }
PIDS=()
cg_ms=$(sed -n 's/.*, \([0-9.]*\) ms per setup/\1/p' <<<"$cg")
echo "strongSwan <-> strongSwan: $ss_n setups, ${ss_ms} ms per setup inside charon ($(python3 -c "print(round(1000/$ss_ms,1))") setups/s); ${wall} ms per setup with swanctl initiate+terminate (load average before: $load_ss)"
echo "Certgate   <-> Certgate:   $cg, two processes in the same namespaces (load average before: $load_cg)"
echo "                           $(cat "$W/cg-a.err")"
echo "ratio (setups/s, Certgate / strongSwan): $(python3 -c "print(round($ss_ms/$cg_ms,2))")x"
