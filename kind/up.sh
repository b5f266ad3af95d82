#!/usr/bin/env bash
# Creates a kind cluster without kube-proxy, deploys nodeplane in its place (service proxy + Ingress, node-local
# cluster DNS at the kube-dns clusterIP, and the Gateway API standard-channel CRDs with GatewayClass nodeplane),
# then walks the networking lab in its order and checks every step (docs/cluster.md).
#
#   kind/up.sh                  create (or reuse) the cluster "nodeplane" and run everything
#   CLUSTER=x IMAGE=y kind/up.sh
#   kind delete cluster --name nodeplane      to remove it
#
# Needs docker, kind, kubectl and curl on the host. Exits non-zero if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-nodeplane}
IMAGE=${IMAGE:-nodeplane:dev}
TIMEOUT=${TIMEOUT:-180s}
CONTROL_PLANE="$CLUSTER-control-plane"
kc() { kubectl --context "kind-$CLUSTER" "$@"; }

for tool in docker kind kubectl curl; do
  command -v "$tool" >/dev/null || { echo "up.sh: $tool is required" >&2; exit 1; }
done

failures=0
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }
pass() { printf '  \033[32mok\033[0m   %s\n' "$*"; }
fail() { printf '  \033[31mFAIL\033[0m %s\n' "$1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/       /'; failures=$((failures + 1)); }

# expect TEXT CMD…: CMD succeeds and prints TEXT (retried for a minute: controllers and watches settle)
expect() {
  local want=$1 out=""
  shift
  for _ in $(seq 1 30); do
    if out=$("$@" 2>&1) && grep -q -- "$want" <<<"$out"; then
      pass "$* → $want"
      return 0
    fi
    sleep 2
  done
  fail "$* (wanted: $want)" "$out"
}

# refused CMD…: CMD fails with "Connection refused", as the lab shows for a Service without endpoints
refused() {
  local out="" rc=0
  out=$("$@" 2>&1) || rc=$?
  if [ "$rc" -ne 0 ] && grep -qi "refused" <<<"$out"; then pass "$* → connection refused"; else fail "$* (wanted: connection refused, exit $rc)" "$out"; fi
}

# jsonpath NAME EXPR: a field of a Service in default, waiting until it is set
field() {
  local out=""
  for _ in $(seq 1 60); do
    out=$(kc get "$1" -o "jsonpath=$2" 2>/dev/null || true)
    [ -n "$out" ] && { printf '%s' "$out"; return 0; }
    sleep 2
  done
  echo "up.sh: $1 has no $2 after two minutes" >&2
  return 1
}

step "1. kind cluster without kube-proxy (kind/cluster.yaml)"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "reusing cluster $CLUSTER"
else
  show kind create cluster --name "$CLUSTER" --config kind/cluster.yaml
fi

step "2. image $IMAGE, loaded into the nodes"
show docker build -t "$IMAGE" .
show kind load docker-image "$IMAGE" --name "$CLUSTER"

step "3. nodeplane (manifests/)"
# Without kube-proxy the in-cluster API address (10.96.0.1) is served by nodeplane itself, and cluster
# DNS is not up yet: nodeplane talks to the API server by the control-plane node's IP instead.
APISERVER_IP=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$CONTROL_PLANE" | awk '{print $1}')
[ -n "$APISERVER_IP" ] || { echo "up.sh: no IP for $CONTROL_PLANE" >&2; exit 1; }
kc create namespace nodeplane-system --dry-run=client -o yaml | kc apply -f -
kc -n nodeplane-system create configmap nodeplane-apiserver \
  --from-literal=KUBERNETES_SERVICE_HOST="$APISERVER_IP" --from-literal=KUBERNETES_SERVICE_PORT=6443 \
  --dry-run=client -o yaml | kc apply -f -
# The Gateway API CRDs (standard channel), from the gateway-api release, on this machine only (tests never
# download them). Installed before nodeplane starts so its first sync has them; installed later, nodeplane
# would find them through API discovery within a minute, without a restart.
GATEWAY_API_CRDS=https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.1/standard-install.yaml
show kc apply --server-side -f "$GATEWAY_API_CRDS"
show kc wait --for=condition=Established --timeout="$TIMEOUT" \
  crd/gatewayclasses.gateway.networking.k8s.io crd/gateways.gateway.networking.k8s.io \
  crd/httproutes.gateway.networking.k8s.io crd/grpcroutes.gateway.networking.k8s.io \
  crd/referencegrants.gateway.networking.k8s.io
show kc apply -k manifests/
if [ "$IMAGE" != "nodeplane:dev" ]; then
  kc -n nodeplane-system set image daemonset/nodeplane nodeplane="$IMAGE"
fi
# LoadBalancer IPs (the lab's LoadBalancer section): a /29 at the top of the kind Docker network,
# which the host can reach; skipped when the network is not an IPv4 /16
LB_POOL=""
KIND_SUBNET=$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}' | tr ' ' '\n' | grep -m1 '^[0-9.]*/16$' || true)
if [ -n "$KIND_SUBNET" ]; then
  LB_POOL="$(cut -d. -f1-2 <<<"$KIND_SUBNET").255.200/29"
  kc -n nodeplane-system patch daemonset nodeplane --type=json \
    -p "[{\"op\":\"add\",\"path\":\"/spec/template/spec/containers/0/args/-\",\"value\":\"--lb-pool=$LB_POOL\"}]"
fi
# Node-local DNS (docs/dns.md): nodeplane answers at the kube-dns clusterIP itself, on every node, and sends
# other names to the CoreDNS pods; the kubelet's clusterDNS stays as it is
kc -n nodeplane-system patch daemonset nodeplane --type=json \
  -p '[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--dns-node-local"}]'
show kc -n nodeplane-system rollout status daemonset/nodeplane --timeout="$TIMEOUT"
# CoreDNS reaches the API server through the kubernetes Service: it only gets ready once nodeplane serves it
show kc wait --for=condition=Ready nodes --all --timeout="$TIMEOUT"
show kc -n kube-system rollout status deployment/coredns --timeout="$TIMEOUT"

step "4. the lab's objects (manifests/overlays/lab, with GatewayClass nodeplane)"
show kc apply -k manifests/overlays/lab
expect "True" kc get gatewayclass nodeplane -o 'jsonpath={.status.conditions[?(@.type=="Accepted")].status}'
show kc wait --for=condition=Available deployment/hello-nginx deployment/s1 deployment/s2 deployment/testsvc --timeout="$TIMEOUT"
show kc wait --for=condition=Ready pod/busybox --timeout="$TIMEOUT"
WORKER_IP=$(kc get nodes -l '!node-role.kubernetes.io/control-plane' -o jsonpath='{.items[0].status.addresses[?(@.type=="InternalIP")].address}')

step "Lab 1. ClusterIP Service without endpoints: connection refused"
show kc get service my-svc-cp
CP_IP=$(field service/my-svc-cp '{.spec.clusterIP}')
refused docker exec "$CONTROL_PLANE" curl -sS --max-time 5 "http://$CP_IP:80"

step "Lab 2. NodePort Service without endpoints: connection refused (from the host, to a node)"
show kc describe service my-svc-np
refused curl -sS --max-time 5 "http://$WORKER_IP:30080"

step "Lab 2. headless Service"
show kc get service my-svc-headless

step "Lab 3. hello-nginx pods, exposed as my-nginx (ClusterIP 8090 → 80)"
show kc get pods -l app=hello-nginx -o wide
NGINX_IP=$(field service/my-nginx '{.spec.clusterIP}')
show kc get service my-nginx
expect "Welcome to nginx" docker exec "$CONTROL_PLANE" curl -sS --max-time 5 "http://$NGINX_IP:8090"
expect "Welcome to nginx" kc exec busybox -- wget -qO- -T 5 "http://$NGINX_IP:8090"
show kc get endpointslices -l kubernetes.io/service-name=my-nginx
echo "NodePort that has endpoints (my-nginx-np, 30090), from the host:"
expect "Welcome to nginx" curl -sS --max-time 5 "http://$WORKER_IP:30090"
expect "Welcome to nginx" curl -sS --max-time 5 "http://localhost:30090"

step "Lab: nslookup from busybox, answered by nodeplane at the kube-dns clusterIP (--dns-node-local)"
# cluster-zone questions nodeplane answered on busybox's node (its /metrics sums the workers)
BUSYBOX_NODE=$(kc get pod busybox -o jsonpath='{.spec.nodeName}')
dns_answered() {
  { docker exec "$BUSYBOX_NODE" curl -sS --max-time 5 http://127.0.0.1:10249/metrics || true; } |
    awk 'index($0, "coredns_dns_requests_total{") == 1 && index($0, "zone=\"cluster.local.\"") { n += $NF } END { print n + 0 }'
}
ANSWERED_BEFORE=$(dns_answered)
expect "10.96.0.1" kc exec busybox -- nslookup kubernetes.default
expect "$NGINX_IP" kc exec busybox -- nslookup my-nginx
POD_IP=$(kc get pods -l app=hello-nginx -o jsonpath='{.items[0].status.podIP}')
expect "$POD_IP" kc exec busybox -- nslookup my-svc-headless
expect "Welcome to nginx" kc exec busybox -- wget -qO- -T 5 "http://my-nginx:8090"
ANSWERED_AFTER=$(dns_answered)
if [ "$ANSWERED_AFTER" -gt "$ANSWERED_BEFORE" ]; then
  pass "nodeplane on $BUSYBOX_NODE answered $((ANSWERED_AFTER - ANSWERED_BEFORE)) cluster question(s) (coredns_dns_requests_total)"
else
  fail "nodeplane's coredns_dns_requests_total on $BUSYBOX_NODE did not grow ($ANSWERED_BEFORE → $ANSWERED_AFTER)"
fi
# names outside the cluster domain still go to CoreDNS (its forward plugin: the node's resolver)
expect "Name:" kc exec busybox -- nslookup kubernetes.io

step "Lab: cluster names resolve with CoreDNS scaled to zero (nodeplane answers them itself)"
COREDNS_REPLICAS=$(kc -n kube-system get deployment coredns -o jsonpath='{.spec.replicas}')
show kc -n kube-system scale deployment/coredns --replicas=0
kc -n kube-system wait --for=delete pod -l k8s-app=kube-dns --timeout="$TIMEOUT" 2>/dev/null || true
show kc -n kube-system get pods -l k8s-app=kube-dns
expect "$NGINX_IP" kc exec busybox -- nslookup my-nginx
expect "10.96.0.1" kc exec busybox -- nslookup kubernetes.default
show kc -n kube-system scale deployment/coredns --replicas="${COREDNS_REPLICAS:-2}"
show kc -n kube-system rollout status deployment/coredns --timeout="$TIMEOUT"

step "LoadBalancer Service (the lab's LoadBalancer section; --lb-pool ${LB_POOL:-off})"
if [ -n "$LB_POOL" ]; then
  LB_IP=$(field service/my-lb '{.status.loadBalancer.ingress[0].ip}')
  show kc get service my-lb
  expect "Welcome to nginx" docker exec "$CONTROL_PLANE" curl -sS --max-time 5 "http://$LB_IP"
  expect "Welcome to nginx" curl -sS --max-time 5 "http://$LB_IP"
else
  echo "skipped: the kind network is not an IPv4 /16"
fi

step "Ingress: ADDRESS written by the leader, routes on localhost:80/443"
field ingress/test '{.status.loadBalancer.ingress[0].ip}' >/dev/null
show kc get ingress
show kc -n nodeplane-system get lease nodeplane
# the lab's way: the Ingress address (localhost, mapped to the control-plane node) with a Host header
expect "s1" curl -sS --max-time 5 -H "Host: foo.bar.com" http://localhost/foo
expect "s2" curl -sS --max-time 5 -H "Host: foo.bar.com" http://localhost/bar
expect "testsvc" curl -sS --max-time 5 -H "Host: other.example" http://localhost/
# HTTPS by SNI; testsecret (a tls entry without hosts) is the certificate for names without their own
expect "s2" curl -sSk --max-time 5 --resolve foo.bar.com:443:127.0.0.1 https://foo.bar.com/bar
expect "testsvc" curl -sSk --max-time 5 --resolve other.example:443:127.0.0.1 https://other.example/
expect "CN=foo.bar.com" sh -c "curl -sSkv --max-time 5 --resolve foo.bar.com:443:127.0.0.1 https://foo.bar.com/foo 2>&1"

step "Gateway API: the lab's Ingress as a Gateway (listener 8081) and an HTTPRoute"
expect "True" kc get gateway lab -o 'jsonpath={.status.conditions[?(@.type=="Programmed")].status}'
show kc get gateways
expect "True" kc get httproute foo-bar -o 'jsonpath={.status.parents[0].conditions[?(@.type=="Accepted")].status}'
expect "True" kc get httproute foo-bar -o 'jsonpath={.status.parents[0].conditions[?(@.type=="ResolvedRefs")].status}'
show kc get httproutes
expect "s1" curl -sS --max-time 5 -H "Host: foo.bar.com" "http://$WORKER_IP:8081/foo"
expect "s2" curl -sS --max-time 5 -H "Host: foo.bar.com" "http://$WORKER_IP:8081/bar"
expect "s1" docker exec "$CONTROL_PLANE" curl -sS --max-time 5 -H "Host: foo.bar.com" http://127.0.0.1:8081/foo

step "Summary"
if [ "$failures" -eq 0 ]; then
  echo "all checks passed; nodeplane serves the lab on kind cluster $CLUSTER"
else
  echo "$failures check(s) failed; logs: kubectl --context kind-$CLUSTER -n nodeplane-system logs daemonset/nodeplane" >&2
  exit 1
fi
