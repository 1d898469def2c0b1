#!/bin/sh
# Starts member N (1, 2 or 3) of a three-member etcd cluster on this host,
# for a trial of several brokers (docs/operations.md#several-brokers-over-etcd).
# On three hosts, give each member its host's address instead of 127.0.0.1.
set -eu
n="$1"
data="${ETCD_DATA_ROOT:-/var/lib/metabroker-etcd}/member-$n"
mkdir -p "$data"
exec etcd --name "m$n" --data-dir "$data" \
  --listen-client-urls "http://127.0.0.1:2${n}379" --advertise-client-urls "http://127.0.0.1:2${n}379" \
  --listen-peer-urls "http://127.0.0.1:2${n}380" --initial-advertise-peer-urls "http://127.0.0.1:2${n}380" \
  --initial-cluster "m1=http://127.0.0.1:21380,m2=http://127.0.0.1:22380,m3=http://127.0.0.1:23380" \
  --initial-cluster-state new --initial-cluster-token metabroker
