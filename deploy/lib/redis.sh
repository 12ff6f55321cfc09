# deploy/lib/redis.sh: start, stop and break a local Redis Cluster, for the
# cluster scripts and the bus tests. Source it; every function takes the
# cluster's directory DIR first and keeps its state there:
#   DIR/redis/PORT/{nodes.conf,pid}   one folder per redis-server
#   DIR/logs/redis-PORT.log           its log
# All processes listen on 127.0.0.1; a cluster node also uses PORT+10000 (the
# cluster bus), so pick BASEPORT with both ranges free. Waits are bounded
# polls; a function that gives up prints why and returns non-zero.

# redis_cluster_up DIR BASEPORT MASTERS REPLICAS: starts MASTERS*(1+REPLICAS)
# nodes on ports BASEPORT.., creates the cluster and waits until every node
# says cluster_state:ok and every master has REPLICAS replicas.
redis_cluster_up() {
  local dir=$1 base=$2 masters=$3 replicas=$4
  local count=$((masters * (1 + replicas)))
  local port i addrs=()
  mkdir -p "$dir/logs"
  for ((i = 0; i < count; i++)); do
    port=$((base + i))
    mkdir -p "$dir/redis/$port"
    rm -f "$dir/redis/$port/nodes.conf"
    _redis_start_node "$dir" "$port"
    addrs+=("127.0.0.1:$port")
  done
  for ((i = 0; i < count; i++)); do
    _redis_wait 100 redis-cli -p $((base + i)) ping || {
      echo "redis.sh: node $((base + i)) did not start (see $dir/logs)" >&2; return 1; }
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes \
    >"$dir/logs/redis-create.log" 2>&1 || {
    echo "redis.sh: cluster create failed (see $dir/logs/redis-create.log)" >&2; return 1; }
  for ((i = 0; i < count; i++)); do
    _redis_wait 300 _redis_state_ok $((base + i)) || {
      echo "redis.sh: node $((base + i)) never reached cluster_state:ok" >&2; return 1; }
  done
  redis_wait_cluster "$dir" "$masters" "$replicas"
}

# redis_wait_cluster DIR MASTERS REPLICAS: waits (30 s at most) until every
# running node says cluster_state:ok and there are MASTERS masters, each
# with REPLICAS replicas: a cluster back in shape after a failover.
redis_wait_cluster() {
  local dir=$1 masters=$2 replicas=$3 addr
  for addr in $(redis_nodes "$dir"); do
    _redis_wait 300 _redis_state_ok "${addr#*:}" || {
      echo "redis.sh: node $addr never reached cluster_state:ok" >&2; return 1; }
  done
  _redis_wait 300 _redis_replicated "$dir" "$masters" "$replicas" || {
    echo "redis.sh: masters did not all get $replicas replica(s)" >&2; return 1; }
}

# redis_restart_node DIR PORT: starts the node of PORT again (after a kill)
# with its nodes.conf, so it rejoins the cluster (as a replica if its slots
# failed over meanwhile).
redis_restart_node() {
  local dir=$1 port=$2
  _redis_start_node "$dir" "$port"
  _redis_wait 100 redis-cli -p "$port" ping || {
    echo "redis.sh: node $port did not restart" >&2; return 1; }
}

_redis_start_node() {
  local dir=$1 port=$2
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode no \
    --cluster-enabled yes --cluster-config-file "$dir/redis/$port/nodes.conf" \
    --cluster-node-timeout 2000 --cluster-replica-validity-factor 0 --dir "$dir/redis/$port" --daemonize no \
    --appendonly no --save '' \
    >>"$dir/logs/redis-$port.log" 2>&1 &
  echo $! >"$dir/redis/$port/pid"
}

# redis_cluster_down DIR: kills every node started in DIR (by recorded PID,
# SIGCONT first in case one is stopped) and waits until they are gone.
redis_cluster_down() {
  local dir=$1 pidfile pid
  for pidfile in "$dir"/redis/*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -CONT "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  done
  for pidfile in "$dir"/redis/*/pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    _redis_wait 100 _redis_gone "$pid" || kill -9 "$pid" 2>/dev/null
    rm -f "$pidfile"
  done
  return 0
}

# redis_nodes DIR: "127.0.0.1:PORT" of every node started in DIR, one a line.
redis_nodes() {
  local dir=$1 d
  for d in "$dir"/redis/*/; do
    [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && echo "127.0.0.1:$(basename "$d")"
  done
}

# redis_masters DIR: the ports of the current masters (per CLUSTER NODES of a
# reachable node), sorted.
redis_masters() {
  local dir=$1 addr
  for addr in $(redis_nodes "$dir"); do
    if redis-cli -p "${addr#*:}" cluster nodes 2>/dev/null |
      awk '$3 ~ /master/ && $3 !~ /fail/ { split($2, a, "@"); split(a[1], b, ":"); print b[2] }' |
      sort -n | grep .; then
      return 0
    fi
  done
  return 1
}

# redis_kill_master DIR K: kill -9 the K-th (1-based, by port) master now;
# prints "PORT PID".
redis_kill_master() {
  local dir=$1 k=$2 port pid
  port=$(redis_masters "$dir" | sed -n "${k}p")
  [ -n "$port" ] || { echo "redis.sh: no master #$k" >&2; return 1; }
  pid=$(cat "$dir/redis/$port/pid")
  kill -9 "$pid"
  _redis_wait 100 _redis_gone "$pid"
  echo "$port $pid"
}

# redis_slot_owner DIR SLOT: the port of the master serving SLOT now.
redis_slot_owner() {
  local dir=$1 slot=$2 port
  port=$(redis_nodes "$dir" | head -1 | cut -d: -f2)
  redis-cli -p "$port" cluster nodes | awk -v s="$slot" '
    $3 ~ /master/ && $3 !~ /fail/ {
      for (i = 9; i <= NF; i++) {
        n = split($i, r, "-"); lo = r[1]; hi = (n == 2) ? r[2] : r[1]
        if ($i !~ /^\[/ && s + 0 >= lo + 0 && s + 0 <= hi + 0) {
          split($2, a, "@"); split(a[1], b, ":"); print b[2]; exit
        }
      }
    }'
}

# redis_move_slot DIR SLOT PORT: migrates hash slot SLOT, with its keys, to
# the master on PORT (the resharding steps of the Redis Cluster spec), and
# tells every master.
redis_move_slot() {
  local dir=$1 slot=$2 to=$3 from from_id to_id keys addr
  from=$(redis_slot_owner "$dir" "$slot")
  [ -n "$from" ] || { echo "redis.sh: slot $slot has no master" >&2; return 1; }
  [ "$from" != "$to" ] || return 0
  from_id=$(redis-cli -p "$from" cluster myid)
  to_id=$(redis-cli -p "$to" cluster myid)
  redis-cli -p "$to" cluster setslot "$slot" importing "$from_id" >/dev/null &&
    redis-cli -p "$from" cluster setslot "$slot" migrating "$to_id" >/dev/null || return 1
  while keys=$(redis-cli -p "$from" cluster getkeysinslot "$slot" 100) && [ -n "$keys" ]; do
    # shellcheck disable=SC2086 # one key per word
    redis-cli -p "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys $keys >/dev/null || return 1
  done
  redis-cli -p "$to" cluster setslot "$slot" node "$to_id" >/dev/null &&
    redis-cli -p "$from" cluster setslot "$slot" node "$to_id" >/dev/null || return 1
  for addr in $(redis_masters "$dir"); do
    redis-cli -p "$addr" cluster setslot "$slot" node "$to_id" >/dev/null 2>&1
  done
  return 0
}

# redis_stop_node DIR PORT / redis_cont_node DIR PORT: SIGSTOP / SIGCONT.
redis_stop_node() { kill -STOP "$(cat "$1/redis/$2/pid")"; }
redis_cont_node() { kill -CONT "$(cat "$1/redis/$2/pid")"; }

# _redis_wait TRIES CMD...: runs CMD every 0.1 s until it succeeds, at most
# TRIES times.
_redis_wait() {
  local tries=$1 i
  shift
  for ((i = 0; i < tries; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

_redis_state_ok() { redis-cli -p "$1" cluster info | grep -q '^cluster_state:ok'; }
_redis_gone() { ! kill -0 "$1" 2>/dev/null; }

# There are MASTERS masters, each with at least REPLICAS replicas ...
_redis_replicated() {
  local dir=$1 masters=$2 replicas=$3 port
  port=$(redis_nodes "$dir" | head -1 | cut -d: -f2)
  redis-cli -p "$port" cluster nodes | awk -v m="$masters" -v r="$replicas" '
    $3 ~ /fail/ || $3 ~ /handshake/ || $3 ~ /noaddr/ { next }
    $3 ~ /master/ { ids[$1] = 0; n++ }
    $3 ~ /slave/ && $8 == "connected" { rep[$4]++ }
    END { if (n != m) exit 1; for (id in ids) if (rep[id] < r) exit 1; exit 0 }' || return 1
  # ... and every replica has finished its sync (it can take over now).
  for port in $(redis-cli -p "$port" cluster nodes |
    awk '$3 ~ /slave/ && $3 !~ /fail/ { split($2, a, "@"); split(a[1], b, ":"); print b[2] }'); do
    redis-cli -p "$port" info replication | grep -q '^master_link_status:up' || return 1
  done
}
