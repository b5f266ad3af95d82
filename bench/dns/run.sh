#!/usr/bin/env bash
# Queries/s for cached cluster names: nodeplane's DNS plane vs BIND (Debian `bind9`) serving the
# same zone, side by side, with dnsperf (Debian `dnsperf`). Everything on loopback; each run is
# bounded by SECONDS_PER_RUN. Servers are pinned to CPU 1 and dnsperf to CPU 0 when taskset exists.
#
#   bench/dns/run.sh [SECONDS_PER_RUN]
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-10}"
work="$(mktemp -d /tmp/nodeplane-dns-bench.XXXXXX)"
np_port=$((20000 + RANDOM % 20000))
bind_port=$((np_port + 1))
dnsmasq_port=$((np_port + 2))
node=./node_modules/.bin/node
pin_server=()
pin_client=()
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server=(taskset -c 1)
  pin_client=(taskset -c 0)
fi
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in dnsperf named; do
  command -v "$tool" >/dev/null || { echo "needs $tool (apt-get install dnsperf bind9)" >&2; exit 2; }
done

"${pin_server[@]}" "$node" bench/dns/server.ts --port "$np_port" --out "$work" >"$work/nodeplane.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^ready' "$work/nodeplane.log" 2>/dev/null && break; sleep 0.1; done
grep '^ready' "$work/nodeplane.log" || { cat "$work/nodeplane.log"; exit 1; }

cat >"$work/named.conf" <<EOF
options {
  directory "$work";
  listen-on port $bind_port { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  pid-file "$work/named.pid";
};
zone "cluster.local" { type primary; file "$work/cluster.local.zone"; };
EOF
"${pin_server[@]}" named -g -n 1 -c "$work/named.conf" >"$work/named.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do dig @127.0.0.1 -p "$bind_port" +short +time=1 +tries=1 svc1.ns1.svc.cluster.local >/dev/null 2>&1 && break; sleep 0.1; done

if command -v dnsmasq >/dev/null; then
  # answers from its hosts/srv tables only (no upstream, no /etc/hosts); unknown cluster names are NXDOMAIN
  "${pin_server[@]}" dnsmasq -k --conf-file="$work/dnsmasq.conf" --port="$dnsmasq_port" --listen-address=127.0.0.1 \
    --bind-interfaces --no-resolv --no-hosts --addn-hosts="$work/dnsmasq.hosts" --local=/cluster.local/ --local-ttl=5 \
    --pid-file="$work/dnsmasq.pid" --user="$(id -un)" >"$work/dnsmasq.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do dig @127.0.0.1 -p "$dnsmasq_port" +short +time=1 +tries=1 svc1.ns1.svc.cluster.local >/dev/null 2>&1 && break; sleep 0.1; done
fi

run() {
  local label="$1" port="$2"
  "${pin_client[@]}" dnsperf -s 127.0.0.1 -p "$port" -d "$work/queries.txt" -l "$seconds" -c 8 -T 1 -q 200 -t 2 \
    >"$work/$label.out" 2>&1 || true
  awk '/Queries per second/ {print $4}' "$work/$label.out" >"$work/$label.qps"
  printf '%-22s %12.0f qps   lost %s\n' "$label" "$(cat "$work/$label.qps")" \
    "$(awk '/Queries lost/ {print $3}' "$work/$label.out")"
}

echo "dnsperf, ${seconds}s each, $(wc -l <"$work/queries.txt") distinct questions, cluster names only"
run nodeplane "$np_port"
run bind "$bind_port"
command -v dnsmasq >/dev/null && run dnsmasq "$dnsmasq_port"
awk -v a="$(cat "$work/nodeplane.qps")" -v b="$(cat "$work/bind.qps")" \
  'BEGIN { if (b > 0) printf "nodeplane / BIND (named -n 1) = %.2f\n", a / b }'
if [ -f "$work/dnsmasq.qps" ]; then
  awk -v a="$(cat "$work/nodeplane.qps")" -v b="$(cat "$work/dnsmasq.qps")" \
    'BEGIN { if (b > 0) printf "nodeplane / dnsmasq = %.2f\n", a / b }'
fi
