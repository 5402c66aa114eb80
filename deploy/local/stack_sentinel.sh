# shellcheck shell=bash
# Redis with Sentinel for the local stack: sourced by deploy/local/stack.sh, which
# provides HOST, STACK, say/ok/warn/die, running, wait_healthy, stop_process,
# require_free_port, take_lock and ensure_tools. Not part of `up`: start it with
#   deploy/local/stack.sh sentinel-up | sentinel-down [--wipe] | sentinel-status
#
# A primary on 127.0.0.1:$DUBAN_STACK_SENTINEL_PRIMARY_PORT (6391), its replica on
# $DUBAN_STACK_SENTINEL_REPLICA_PORT (6392) and three sentinels on
# $DUBAN_STACK_SENTINEL_PORTS ("26391 26392 26393") watching it as
# $DUBAN_STACK_SENTINEL_MASTER (mymaster). Both nodes: AOF with appendfsync always,
# min-replicas-to-write 1 and min-replicas-max-lag 10; the sentinels fail over after
# 2 s without an answer (DUBAN_STACK_SENTINEL_DOWN_AFTER_MS). State in .stack/sentinel/<port>/.
# The configs are written on the first start only: Sentinel rewrites them (who replicates
# whom) at each failover, and a fresh config would undo that. `sentinel-down --wipe`
# deletes the state. Run duban against it:
#   DUBAN_REDIS_SENTINELS=127.0.0.1:26391,127.0.0.1:26392,127.0.0.1:26393 make run
# and fail over: kill -9 "$(cat .stack/sentinel/6391/redis.pid)", or
#   redis-cli -p 26391 sentinel failover mymaster

SENTINEL_DIR="$STACK/sentinel"
SENTINEL_PRIMARY_PORT="${DUBAN_STACK_SENTINEL_PRIMARY_PORT:-6391}"
SENTINEL_REPLICA_PORT="${DUBAN_STACK_SENTINEL_REPLICA_PORT:-6392}"
read -r -a SENTINEL_PORTS <<<"${DUBAN_STACK_SENTINEL_PORTS:-26391 26392 26393}"
SENTINEL_MASTER="${DUBAN_STACK_SENTINEL_MASTER:-mymaster}"
SENTINEL_DOWN_AFTER_MS="${DUBAN_STACK_SENTINEL_DOWN_AFTER_MS:-2000}"
SENTINEL_FAILOVER_TIMEOUT_MS="${DUBAN_STACK_SENTINEL_FAILOVER_TIMEOUT_MS:-10000}"

sentinel_addresses() {  # DUBAN_REDIS_SENTINELS for this set
    local port out=()
    for port in "${SENTINEL_PORTS[@]}"; do out+=("$HOST:$port"); done
    (IFS=,; echo "${out[*]}")
}

sentinel_node_config() {  # port [port of the primary to replicate]
    local dir="$SENTINEL_DIR/$1"
    [[ -f "$dir/redis.conf" ]] && return 0
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<EOF
# Written by deploy/local/stack_sentinel.sh on the first start; Sentinel rewrites it.
bind $HOST
port $1
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
appendonly yes
appendfsync always
# No writes on a primary without a replica that follows (lag <= 10 s).
min-replicas-to-write 1
min-replicas-max-lag 10
repl-diskless-sync-delay 0
EOF
    if [[ -n "${2:-}" ]]; then echo "replicaof $HOST $2" >>"$dir/redis.conf"; fi
}

sentinel_config() {  # port
    local dir="$SENTINEL_DIR/$1" name="$SENTINEL_MASTER"
    [[ -f "$dir/redis.conf" ]] && return 0
    mkdir -p "$dir"
    cat >"$dir/redis.conf" <<EOF
# Written by deploy/local/stack_sentinel.sh on the first start; Sentinel rewrites it.
bind $HOST
port $1
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
sentinel monitor $name $HOST $SENTINEL_PRIMARY_PORT 2
sentinel down-after-milliseconds $name $SENTINEL_DOWN_AFTER_MS
sentinel failover-timeout $name $SENTINEL_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $name 1
EOF
}

sentinel_pong() {  # port
    [[ "$(timeout 3 redis-cli -h "$HOST" -p "$1" ping 2>/dev/null)" == PONG ]]
}

sentinel_sees_others() {  # port: answers, and knows the two other sentinels
    local others
    others="$(timeout 3 redis-cli -h "$HOST" -p "$1" sentinel sentinels "$SENTINEL_MASTER" 2>/dev/null \
        | grep -c '^name$')" || true
    ((others >= ${#SENTINEL_PORTS[@]} - 1))
}

sentinel_start_one() {  # label port [--sentinel]
    local label=$1 port=$2 pid pidfile="$SENTINEL_DIR/$2/redis.pid"
    shift 2
    if pid="$(running "$pidfile" redis-server)"; then
        ok "$label $port: already running (pid $pid)"
        return 0
    fi
    require_free_port "$label" "$port"
    rm -f "$pidfile"
    say "$label: starting on $HOST:$port"
    redis-server "$SENTINEL_DIR/$port/redis.conf" "$@" 9>&- \
        || { show_log "$SENTINEL_DIR/$port/redis.log"; die "$label $port: failed to start"; }
}

sentinel_wait_one() {  # label port check
    local dir="$SENTINEL_DIR/$2"
    wait_healthy "$1 $2" 30 "$dir/redis.pid" redis-server "$dir/redis.log" "$3" "$2" \
        || die "$1 $2 did not become healthy"
}

cmd_sentinel_up() {
    local port
    take_lock
    command -v redis-server >/dev/null || ensure_tools
    sentinel_node_config "$SENTINEL_PRIMARY_PORT"
    sentinel_node_config "$SENTINEL_REPLICA_PORT" "$SENTINEL_PRIMARY_PORT"
    for port in "${SENTINEL_PORTS[@]}"; do sentinel_config "$port"; done
    for port in "$SENTINEL_PRIMARY_PORT" "$SENTINEL_REPLICA_PORT"; do
        sentinel_start_one redis "$port"
    done
    for port in "$SENTINEL_PRIMARY_PORT" "$SENTINEL_REPLICA_PORT"; do
        sentinel_wait_one redis "$port" sentinel_pong
    done
    for port in "${SENTINEL_PORTS[@]}"; do sentinel_start_one sentinel "$port" --sentinel; done
    for port in "${SENTINEL_PORTS[@]}"; do sentinel_wait_one sentinel "$port" sentinel_sees_others; done
    say "sentinel is up: DUBAN_REDIS_SENTINELS=$(sentinel_addresses) DUBAN_REDIS_MASTER=$SENTINEL_MASTER"
}

cmd_sentinel_down() {
    local wipe=${1:-} port
    take_lock
    # The sentinels first: stopping the primary under them would start a failover.
    for port in "${SENTINEL_PORTS[@]}"; do
        stop_process "sentinel $port" "$SENTINEL_DIR/$port/redis.pid" redis-server 30
    done
    for port in "$SENTINEL_REPLICA_PORT" "$SENTINEL_PRIMARY_PORT"; do
        stop_process "redis $port" "$SENTINEL_DIR/$port/redis.pid" redis-server 30
    done
    if [[ "$wipe" == --wipe ]]; then
        rm -rf "$SENTINEL_DIR"
        ok "sentinel state wiped"
    fi
}

cmd_sentinel_status() {  # one line per process; returns 1 when any is down
    local down=0 port pid role primary
    for port in "$SENTINEL_PRIMARY_PORT" "$SENTINEL_REPLICA_PORT"; do
        if pid="$(running "$SENTINEL_DIR/$port/redis.pid" redis-server)" && sentinel_pong "$port"; then
            role="$(timeout 3 redis-cli -h "$HOST" -p "$port" role 2>/dev/null | head -n 1)"
            ok "redis $port    up      pid $pid, $role"
        else
            warn "redis $port    down"; down=1
        fi
    done
    for port in "${SENTINEL_PORTS[@]}"; do
        if pid="$(running "$SENTINEL_DIR/$port/redis.pid" redis-server)" && sentinel_pong "$port"; then
            primary="$(timeout 3 redis-cli -h "$HOST" -p "$port" sentinel get-master-addr-by-name \
                "$SENTINEL_MASTER" 2>/dev/null | paste -sd: -)"
            ok "sentinel $port up      pid $pid, $SENTINEL_MASTER at $primary"
        else
            warn "sentinel $port down"; down=1
        fi
    done
    return "$down"
}
