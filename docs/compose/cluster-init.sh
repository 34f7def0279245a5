#!/bin/sh
# Create the cluster from the nodes given as arguments (host:port, the first third primaries)
# unless the first node already belongs to one; then wait until it says it is ok.
# The password comes from REDISCLI_AUTH / VALKEYCLI_AUTH, never the command line.
set -eu
first="$1"
host="${first%:*}"
port="${first#*:}"
if [ "$(valkey-cli -h "$host" -p "$port" cluster info | tr -d '\r' | grep '^cluster_known_nodes:' | cut -d: -f2)" -gt 1 ]; then
    echo "the nodes already form a cluster"
else
    valkey-cli --cluster create "$@" --cluster-replicas 1 --cluster-yes
fi
tries=0
until valkey-cli -h "$host" -p "$port" cluster info | tr -d '\r' | grep -q '^cluster_state:ok$'; do
    tries=$((tries + 1))
    [ "$tries" -lt 60 ] || { echo "the cluster is not ok after 60 s" >&2; exit 1; }
    sleep 1
done
echo "cluster ok"
