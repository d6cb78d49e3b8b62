#!/usr/bin/env bash
# ESP data plane, side by side: TCP throughput and UDP packets/s through a Certgate<->Certgate tunnel (userspace ESP
# over TUN, manually keyed SAs: `certgate debug esp-tunnel`) and through a strongSwan<->strongSwan tunnel (charon
# 5.9 with kernel-libipsec, the userspace ESP this kernel allows), in the same topology, with iperf3.
#
#   [ns A] 10.99.1.1/32 on lo --tunnel-- veth 10.99.0.1/24 <==> 10.99.0.2/24 veth --tunnel-- 10.99.2.1/32 on lo [ns B]
#
# usage: sudo bench/esp-throughput.sh [SECONDS]      (root; Debian packages iperf3 strongswan-charon
#        strongswan-swanctl libcharon-extra-plugins; builds ./certgate first). Prints one table and the ratios.
# Both sides ESP in UDP 4500 (libipsec always encapsulates), AES-256-GCM-16 and AES-256-CBC + HMAC-SHA-256-128.
set -euo pipefail
ROOT=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
SECS=${1:-5}
[ "$(id -u)" -eq 0 ] || { echo "esp-throughput: needs root (network namespaces, TUN devices)" >&2; exit 2; }
for t in iperf3 ip /usr/lib/ipsec/charon swanctl; do
  command -v "$t" >/dev/null || [ -x "$t" ] || { echo "esp-throughput: $t is missing (apt-get install iperf3 strongswan-charon strongswan-swanctl libcharon-extra-plugins)" >&2; exit 2; }
done
"$ROOT/certgate" --help >/dev/null 2>&1 || true   # builds the executable once
CLI=(dotnet "$ROOT/.build/cli/certgate.dll")

TAG=$$
NA=cgbA$TAG NB=cgbB$TAG
W=$(mktemp -d /tmp/cg-espbench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NA" 2>/dev/null || true
  ip netns del "$NB" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT INT TERM

topology() {
  ip netns del "$NA" 2>/dev/null || true; ip netns del "$NB" 2>/dev/null || true
  ip netns add "$NA"; ip netns add "$NB"
  ip link add "va$TAG" type veth peer name "vb$TAG"
  ip link set "va$TAG" netns "$NA"; ip link set "vb$TAG" netns "$NB"
  ip -n "$NA" addr add 10.99.0.1/24 dev "va$TAG"; ip -n "$NB" addr add 10.99.0.2/24 dev "vb$TAG"
  for n in "$NA" "$NB"; do ip -n "$n" link set lo up; done
  ip -n "$NA" link set "va$TAG" up; ip -n "$NB" link set "vb$TAG" up
  ip -n "$NA" addr add 10.99.1.1/32 dev lo; ip -n "$NB" addr add 10.99.2.1/32 dev lo
}

# measure LABEL: TCP Mbit/s from A's inner address to B's, and UDP 64-byte packets/s received at B.
measure() {
  ip netns exec "$NB" iperf3 -s -B 10.99.2.1 -1 -D --logfile "$W/iperf-s1.log"
  sleep 0.3
  local tcp udp
  tcp=$(ip netns exec "$NA" iperf3 -c 10.99.2.1 -B 10.99.1.1 -t "$SECS" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6))')
  ip netns exec "$NB" iperf3 -s -B 10.99.2.1 -1 -D --logfile "$W/iperf-s2.log"
  sleep 0.3
  udp=$(ip netns exec "$NA" iperf3 -c 10.99.2.1 -B 10.99.1.1 -u -l 64 -b 0 -t "$SECS" -J | python3 -c '
import json,sys
e=json.load(sys.stdin)["end"]["sum"]
print(round((e["packets"]-e["lost_packets"])/e["seconds"]))')
  echo "$tcp $udp" > "$W/result"
}

certgate_run() {  # CIPHER KEYBYTES OFFLOADS(on|off)
  topology
  local cipher=$1 len=$2 offloads=$3
  local ab ba
  ab=$(head -c "$len" /dev/urandom | xxd -p -c 256); ba=$(head -c "$len" /dev/urandom | xxd -p -c 256)
  printf '%s\n%s\n' "$ba" "$ab" > "$W/a.keys"; printf '%s\n%s\n' "$ab" "$ba" > "$W/b.keys"; chmod 600 "$W"/*.keys
  ip netns exec "$NA" "${CLI[@]}" debug esp-tunnel tun cg0 local 10.99.0.1:4500 remote 10.99.0.2:4500 spi-in 2002 spi-out 1001 keys "$W/a.keys" cipher "$cipher" offloads "$offloads" > "$W/cga.log" 2>&1 &
  PIDS+=($!)
  ip netns exec "$NB" "${CLI[@]}" debug esp-tunnel tun cg0 local 10.99.0.2:4500 remote 10.99.0.1:4500 spi-in 1001 spi-out 2002 keys "$W/b.keys" cipher "$cipher" offloads "$offloads" > "$W/cgb.log" 2>&1 &
  PIDS+=($!)
  for i in $(seq 100); do ip -n "$NA" link show cg0 >/dev/null 2>&1 && ip -n "$NB" link show cg0 >/dev/null 2>&1 && break; sleep 0.1; done
  ip -n "$NA" link set cg0 mtu 1400 up; ip -n "$NB" link set cg0 mtu 1400 up
  ip -n "$NA" route add 10.99.2.1/32 dev cg0 src 10.99.1.1; ip -n "$NB" route add 10.99.1.1/32 dev cg0 src 10.99.2.1
  ip netns exec "$NA" ping -c 2 -i 0.2 -W 2 10.99.2.1 -I 10.99.1.1 >/dev/null || { echo "certgate tunnel does not carry ping" >&2; cat "$W"/cg*.log >&2; exit 1; }
  measure
  kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
  io=$(sed -n 's/^esp-tunnel on .*; //p' "$W/cga.log")
  # ESP the kernel dropped at either gateway's socket (receive queue full), TCP and UDP runs together.
  ovf=$(sed -n 's/.*ReceiveQueueOverflow \([0-9]*\).*/\1/p' "$W/cga.log" "$W/cgb.log" | awk '{s+=$1} END {if (NR) print s}')
}

strongswan_conf() {  # NAME LOCAL REMOTE LTS RTS ESP
  local D=$W/$1
  for s in x509 x509ca x509crl x509ocsp x509aa x509ac private pubkey rsa ecdsa bliss pkcs8 pkcs12; do mkdir -p "$D/swanctl/$s"; done
  mkdir -p "$D/run"
  cat > "$D/strongswan.conf" <<EOT
charon {
  load = random nonce openssl kdf pem pkcs1 pkcs8 x509 pubkey kernel-libipsec kernel-netlink socket-default vici
  filelog { log { path = $D/charon.log
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
  local { auth = psk
          id = $2 }
  remote { auth = psk
           id = $3 }
  children { net { local_ts = $4
                   remote_ts = $5
                   esp_proposals = $6
                   start_action = none } } } }
secrets { ike { secret = esp-throughput-bench-only } }
EOT
}

strongswan_run() {  # ESP_PROPOSAL
  topology
  strongswan_conf a 10.99.0.1 10.99.0.2 10.99.1.1/32 10.99.2.1/32 "$1"
  strongswan_conf b 10.99.0.2 10.99.0.1 10.99.2.1/32 10.99.1.1/32 "$1"
  for side in a:"$NA" b:"$NB"; do
    local ns=${side#*:} D=$W/${side%%:*}
    rm -f "$D/charon.vici"
    ip netns exec "$ns" sh -c "mount --bind $D/run /run && STRONGSWAN_CONF=$D/strongswan.conf exec /usr/lib/ipsec/charon" > "$D/charon.out" 2>&1 &
    PIDS+=($!)
    for i in $(seq 100); do [ -S "$D/charon.vici" ] && break; sleep 0.05; done
    STRONGSWAN_CONF=$D/strongswan.conf SWANCTL_DIR=$D/swanctl swanctl --load-all --noprompt >/dev/null || { cat "$D/charon.out" "$D/charon.log" >&2; exit 1; }
  done
  STRONGSWAN_CONF=$W/a/strongswan.conf swanctl --initiate --child net --ike gw >/dev/null
  ip netns exec "$NA" ping -c 2 -i 0.2 -W 2 10.99.2.1 -I 10.99.1.1 >/dev/null || { echo "strongSwan tunnel does not carry ping" >&2; cat "$W"/a/charon.log >&2; exit 1; }
  measure
  kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; PIDS=()
}

topology
ip -n "$NA" route add 10.99.2.1/32 via 10.99.0.2; ip -n "$NB" route add 10.99.1.1/32 via 10.99.0.1
measure; plain=$(cat "$W/result")
printf '%-28s %9s Mbit/s (plain veth, no tunnel; UDP %s pkt/s)\n' "-" "${plain% *}" "${plain#* }"
printf '%-28s %16s %16s %16s %8s %8s\n' "cipher (${SECS}s per run)" "Certgate TCP" "(offloads off)" "strongSwan TCP" "ratio" "pps ratio"
for pair in "aes-256-gcm:36:aes256gcm16" "aes-256-cbc-hmac-sha256:64:aes256-sha256"; do
  IFS=: read -r ours len theirs <<<"$pair"
  certgate_run "$ours" "$len" on; c=$(cat "$W/result"); io_on=$io; ovf_on=${ovf:--}
  certgate_run "$ours" "$len" off; c0=$(cat "$W/result"); ovf_off=${ovf:--}
  strongswan_run "$theirs"; s=$(cat "$W/result")
  ct=${c% *} cu=${c#* } c0t=${c0% *} c0u=${c0#* } st=${s% *} su=${s#* }
  printf '%-28s %9s Mbit/s %9s Mbit/s %9s Mbit/s %7sx %7sx   (UDP 64 B pkt/s: Certgate %s, offloads off %s, strongSwan %s; socket receive overflows %s / %s)\n' "$ours" "$ct" "$c0t" "$st" \
    "$(python3 -c "print(round($ct/max($st,1),2))")" "$(python3 -c "print(round($cu/max($su,1),2))")" "$cu" "$c0u" "$su" "$ovf_on" "$ovf_off"
done
echo "Certgate I/O: $io_on"
