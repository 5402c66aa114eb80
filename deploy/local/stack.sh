#!/usr/bin/env bash
# The duban local stack, without Docker: Kafka (KRaft), Redis and an SMTP catcher,
# each as a plain background process of this machine.
#
#   deploy/local/stack.sh up            start whatever is not running, wait until healthy
#   deploy/local/stack.sh down [--wipe] stop everything (data kept unless --wipe)
#   deploy/local/stack.sh wipe          stop and delete all data (downloaded jars are kept)
#   deploy/local/stack.sh status        health of each part; exit 1 if any is down
#   deploy/local/stack.sh tools         install the missing system packages only
#   deploy/local/stack.sh sentinel-up | sentinel-down [--wipe] | sentinel-status
#                                       Redis primary + replica + 3 sentinels (not in `up`)
#
# Everything lives in <repo>/.stack/ (git-ignored):
#   kafka/libs/        broker jars, fetched once from Maven Central via deploy/local/kafka/pom.xml
#   kafka/data/        KRaft metadata + topic data      kafka/server.properties (generated)
#   kafka/server.log   broker log (WARN+)               kafka/kafka.out (JVM stdout/stderr)
#   redis/             redis.conf (generated), AOF, redis.log
#   mail/              one .eml per received message and recipient
#   mailcatcher/       the SMTP catcher's pid and log
#   inbox/             the provider stand-ins' messages.jsonl, their and the inbox page's pids and logs
#
# Ports (all bound to 127.0.0.1) can be changed with DUBAN_STACK_KAFKA_PORT (9092),
# DUBAN_STACK_KAFKA_CONTROLLER_PORT (9093), DUBAN_STACK_REDIS_PORT (6390) and
# DUBAN_STACK_SMTP_PORT (1025). DUBAN_STACK_KAFKA_LOG_LEVEL (WARN) sets the broker log level.
# The stand-ins of every provider listen on DUBAN_STACK_STANDINS_PORT (8120) and up, the
# inbox page on DUBAN_STACK_INBOX_PORT (8030): see stack_standins.sh.
#
# Missing system packages (redis-server, prometheus for the tests' promtool, and java/maven
# if absent) are installed with apt-get.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/../.." && pwd)"
STACK="$ROOT/.stack"
PY="$ROOT/.venv/bin/python"

HOST=127.0.0.1
KAFKA_PORT="${DUBAN_STACK_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${DUBAN_STACK_KAFKA_CONTROLLER_PORT:-9093}"
REDIS_PORT="${DUBAN_STACK_REDIS_PORT:-6390}"
SMTP_PORT="${DUBAN_STACK_SMTP_PORT:-1025}"

KAFKA_DIR="$STACK/kafka"
KAFKA_LIBS="$KAFKA_DIR/libs"
KAFKA_DATA="$KAFKA_DIR/data"
KAFKA_CONF="$KAFKA_DIR/server.properties"
KAFKA_PIDFILE="$KAFKA_DIR/kafka.pid"
KAFKA_OUT="$KAFKA_DIR/kafka.out"
KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
KAFKA_LOG4J="$SCRIPT_DIR/kafka/log4j2.properties"
KAFKA_TIMEOUT="${DUBAN_STACK_KAFKA_TIMEOUT:-90}"

REDIS_DIR="$STACK/redis"
REDIS_CONF="$REDIS_DIR/redis.conf"
REDIS_PIDFILE="$REDIS_DIR/redis.pid"
REDIS_LOG="$REDIS_DIR/redis.log"

MAIL_DIR="$STACK/mail"
MAILCATCHER_DIR="$STACK/mailcatcher"
MAIL_PIDFILE="$MAILCATCHER_DIR/mailcatcher.pid"
MAIL_LOG="$MAILCATCHER_DIR/mailcatcher.log"

# PostgreSQL (the audit trail): its functions and settings.
# shellcheck source=deploy/local/stack_postgres.sh
source "$SCRIPT_DIR/stack_postgres.sh"
# Redis with Sentinel (primary 6391, replica 6392, sentinels 26391-26393), on demand.
# shellcheck source=deploy/local/stack_sentinel.sh
source "$SCRIPT_DIR/stack_sentinel.sh"
# The provider stand-ins and the inbox page (http://127.0.0.1:8030/) for `make run`.
# shellcheck source=deploy/local/stack_standins.sh
source "$SCRIPT_DIR/stack_standins.sh"

# ---------------------------------------------------------------------------- output

say()  { printf '==> %s\n' "$*"; }
ok()   { printf ' ok %s\n' "$*"; }
warn() { printf ' !! %s\n' "$*" >&2; }
die()  { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

show_log() {  # file: last lines of a log, to explain a failure
    if [[ -s "$1" ]]; then
        printf -- '--- last lines of %s ---\n' "$1" >&2
        tail -n 25 "$1" >&2
        printf -- '---\n' >&2
    fi
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------- helpers

# True while the process exists and has not exited. An exited daemon stays a zombie
# until its parent (init, since we detach them) reaps it, which on some machines
# happens only every few seconds; `kill -0` alone would count a zombie as alive.
alive() {  # pid
    local state
    kill -0 "$1" 2>/dev/null || return 1
    state="$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null)"
    [[ -n "$state" && "$state" != Z ]]
}

# Prints the pid stored in a pid file if that process is alive AND its command line
# contains the pattern. The second check matters after a reboot or a crash: the old
# pid may now belong to an unrelated process, which we must neither trust nor kill.
running() {  # pidfile pattern
    local pid cmdline
    [[ -s "$1" ]] || return 1
    pid="$(tr -dc '0-9' <"$1")"
    [[ -n "$pid" ]] && alive "$pid" || return 1
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *"$2"* ]] || return 1
    echo "$pid"
}

port_open() {  # port
    timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$1" 2>/dev/null
}

require_free_port() {  # what port
    if port_open "$2"; then
        die "$1: port $HOST:$2 is already taken by a process this script did not start." \
            "Stop it, or pick another port (see the DUBAN_STACK_*_PORT variables)."
    fi
}

redis_ok() {
    [[ "$(timeout 3 redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

# A healthy SMTP server greets with "220 ..." as soon as the connection is accepted.
smtp_ok() {
    # shellcheck disable=SC2016  # $0/$1 are expanded by the inner bash, on purpose
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        IFS= read -r -t 2 greeting <&3 || exit 1
        printf "QUIT\r\n" >&3
        [[ $greeting == 220* ]]' "$HOST" "$SMTP_PORT" 2>/dev/null
}

kafka_ok() {  # [extra wait_kafka.py args...]; prints the health line on success
    "$PY" "$SCRIPT_DIR/wait_kafka.py" --bootstrap "$HOST:$KAFKA_PORT" "$@"
}

# Polls a health check until it passes. Gives up early when the process is gone
# (no point waiting the full timeout for a crashed server), showing its log.
wait_healthy() {  # label timeout_s pidfile pattern logfile check...
    local label=$1 timeout=$2 pidfile=$3 pattern=$4 log=$5 start=$SECONDS
    shift 5
    until "$@" >/dev/null 2>&1; do
        # Daemonizing servers write their pid file a moment after starting; allow that.
        if ((SECONDS - start >= 3)) && ! running "$pidfile" "$pattern" >/dev/null; then
            warn "$label: the process exited while starting"
            show_log "$log"
            return 1
        fi
        if ((SECONDS - start >= timeout)); then
            warn "$label: not healthy after ${timeout}s"
            show_log "$log"
            return 1
        fi
        sleep 0.2
    done
}

# Stops a process started by this script: SIGTERM, wait, SIGKILL as a last resort.
stop_process() {  # label pidfile pattern grace_s
    local label=$1 pidfile=$2 pattern=$3 grace=$4 pid start=$SECONDS
    if ! pid="$(running "$pidfile" "$pattern")"; then
        rm -f "$pidfile"
        ok "$label: not running"
        return 0
    fi
    printf '==> %s: stopping (pid %s)...' "$label" "$pid"
    kill -TERM "$pid" 2>/dev/null || true
    while alive "$pid"; do
        if ((SECONDS - start >= grace)); then
            printf ' still alive after %ss, killing' "$grace"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    while alive "$pid"; do sleep 0.1; done
    rm -f "$pidfile"
    printf ' stopped (%ss)\n' "$((SECONDS - start))"
}

apt_install() {  # package...
    local sudo=() log="$STACK/apt.log"
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "need root (or sudo) to apt-get install $*"
        sudo=(sudo)
    fi
    say "installing $* with apt-get (one time; log in $log)"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1; then
        # A fresh image usually has no package lists yet: update once and retry.
        say "apt-get install failed; running apt-get update and retrying"
        "${sudo[@]}" apt-get update -q >>"$log" 2>&1 || { show_log "$log"; die "apt-get update failed"; }
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >>"$log" 2>&1 \
            || { show_log "$log"; die "apt-get install $* failed"; }
    fi
    ok "installed $*"
}

ensure_tools() {
    local missing=()
    command -v java >/dev/null || missing+=(openjdk-17-jre-headless)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v redis-cli >/dev/null || missing+=(redis-tools)
    postgres_installed || missing+=(postgresql)
    # promtool checks deploy/monitoring/'s alert rules (tests/unit/test_monitoring.py).
    command -v promtool >/dev/null || missing+=(prometheus)
    # The browser tests of the inbox and the ack page drive Debian's chromium (Playwright).
    command -v chromium >/dev/null || missing+=(chromium)
    # Maven is only needed until the broker jars are downloaded.
    if [[ ! -f "$KAFKA_LIBS/.pom.sha256" ]] && ! command -v mvn >/dev/null; then
        missing+=(maven)
    fi
    ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
    [[ -x "$PY" ]] || die "no project venv at $ROOT/.venv; run 'uv sync --frozen' first"
}

# ---------------------------------------------------------------------------- kafka

check_java_version() {
    local major
    major="$(java -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ { print $2 }')"
    major="${major%%.*}"
    if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
        die "Kafka 4 needs Java 17 or newer; 'java' is version ${major:-unknown}"
    fi
}

# Downloads the broker jars with Maven into a temporary directory first and renames
# it at the end, so an interrupted download is simply redone on the next run.
# A hash of pom.xml is kept next to the jars: editing the pom (e.g. a Kafka version
# bump) triggers a fresh download.
fetch_kafka_libs() {
    local want have=""
    want="$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
    [[ -f "$KAFKA_LIBS/.pom.sha256" ]] && have="$(cat "$KAFKA_LIBS/.pom.sha256")"
    [[ "$want" == "$have" ]] && return 0
    local version start
    version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM")"
    start="$(now)"
    say "kafka: downloading Kafka $version jars from Maven Central (first run only)"
    command -v mvn >/dev/null || apt_install maven
    rm -rf "$KAFKA_LIBS.tmp"
    mkdir -p "$KAFKA_DIR"
    # Maven 3.8 prints stray ANSI codes even with -q, hence the log file.
    mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" >"$KAFKA_DIR/mvn.log" 2>&1 \
        || { show_log "$KAFKA_DIR/mvn.log"; die "Maven could not fetch the Kafka jars (network? ~/.m2/settings.xml mirror?)"; }
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
    echo "$want" >"$KAFKA_LIBS/.pom.sha256"
    ok "kafka: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars, $(du -sh "$KAFKA_LIBS" | cut -f1) in $(since "$start")s"
}

# Regenerated on every start, so port changes and edits here take effect on restart.
write_kafka_config() {
    cat >"$KAFKA_CONF" <<EOF
# Generated by deploy/local/stack.sh on every start -- edit the script, not this file.
# A single KRaft node acting as broker and controller.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_DATA

# One node: every internal topic has exactly one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer partitions than the default 50 for the internal topics: they are created
# on first use and 50 partitions cost seconds and memory on a laptop-sized node.
offsets.topic.num.partitions=6
transaction.state.log.num.partitions=6

# Consumers join immediately instead of waiting 3 s for more group members.
group.initial.rebalance.delay.ms=0
num.partitions=6
auto.create.topics.enable=true

# The compaction buffer defaults to 128 MiB off-heap; compacted topics here are tiny.
log.cleaner.dedupe.buffer.size=16777216
num.network.threads=2
num.io.threads=4
EOF
}

# KRaft storage must be formatted exactly once. --standalone makes this node the
# sole voter of a dynamic quorum (matching controller.quorum.bootstrap.servers).
format_kafka_storage() {
    local stamp="$KAFKA_DIR/formatted-controller-port"
    if [[ -f "$KAFKA_DATA/meta.properties" ]]; then
        # The controller's endpoint is recorded in the metadata log at format time.
        if [[ -f "$stamp" && "$(cat "$stamp")" != "$CONTROLLER_PORT" ]]; then
            die "kafka: storage was formatted for controller port $(cat "$stamp"), now $CONTROLLER_PORT;" \
                "run '$0 wipe' first (deletes Kafka data)"
        fi
        return 0
    fi
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid)"
    say "kafka: formatting storage (cluster id $cluster_id)"
    mkdir -p "$KAFKA_DATA"
    java -cp "$KAFKA_LIBS/*" -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_DIR" \
        kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$KAFKA_CONF" \
        >"$KAFKA_DIR/format.out" 2>&1 || { show_log "$KAFKA_DIR/format.out"; die "kafka: format failed"; }
    echo "$CONTROLLER_PORT" >"$stamp"
}

start_kafka() {
    local pid
    if pid="$(running "$KAFKA_PIDFILE" kafka.Kafka)"; then
        ok "kafka: already running (pid $pid)"
        return 0
    fi
    require_free_port kafka "$KAFKA_PORT"
    require_free_port "kafka controller" "$CONTROLLER_PORT"
    check_java_version
    fetch_kafka_libs
    mkdir -p "$KAFKA_DATA"
    write_kafka_config
    format_kafka_storage
    say "kafka: starting on $HOST:$KAFKA_PORT (controller $HOST:$CONTROLLER_PORT)"
    # setsid: the broker gets its own session, so a Ctrl-C in the terminal that ran
    # `make run` (or a killed CI step) does not take the stack down with it.
    # GC flags are the ones Kafka's own start scripts use. Log4j's shutdown hook is
    # off because it raced Kafka's own one: the broker's last log lines (its
    # shutdown) went to a fallback logger instead of server.log. The appenders
    # flush every line, so nothing is lost without the hook.
    setsid nohup java \
        -Xms256m -Xmx512m \
        -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true \
        -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
        -Dlog4j2.shutdownHookEnabled=false \
        -Dkafka.logs.dir="$KAFKA_DIR" \
        -Dduban.kafka.log.level="${DUBAN_STACK_KAFKA_LOG_LEVEL:-WARN}" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" \
        >>"$KAFKA_OUT" 2>&1 </dev/null 9>&- &
    echo $! >"$KAFKA_PIDFILE"
}

wait_kafka() {
    local pid start line
    pid="$(running "$KAFKA_PIDFILE" kafka.Kafka)" || { show_log "$KAFKA_OUT"; die "kafka: not running"; }
    start="$(now)"
    # wait_kafka.py polls with a real client and stops early if the JVM dies.
    # Its verdict on failure (and, with DUBAN_STACK_VERBOSE=1, every attempt) goes to stderr.
    if ! line="$(kafka_ok --timeout "$KAFKA_TIMEOUT" --pid "$pid" ${DUBAN_STACK_VERBOSE:+--verbose})"; then
        show_log "$KAFKA_DIR/server.log"
        show_log "$KAFKA_OUT"
        die "kafka did not become healthy"
    fi
    ok "kafka: healthy after $(since "$start")s -- ${line#kafka at * is healthy: }"
}

# ---------------------------------------------------------------------------- redis

start_redis() {
    local pid
    if pid="$(running "$REDIS_PIDFILE" redis-server)"; then
        ok "redis: already running (pid $pid)"
        return 0
    fi
    require_free_port redis "$REDIS_PORT"
    mkdir -p "$REDIS_DIR"
    # Our own redis-server process with its own config: the Debian package's system
    # service (port 6379, /var/lib/redis) is neither used nor touched.
    cat >"$REDIS_CONF" <<EOF
# Generated by deploy/local/stack.sh on every start.
bind $HOST
port $REDIS_PORT
daemonize yes
pidfile $REDIS_PIDFILE
logfile $REDIS_LOG
dir $REDIS_DIR
# duban keeps its state, timers and delivery ledger in Redis: make every acknowledged
# write survive a crash (docs/reliability.md: everysec may lose the last second).
appendonly yes
appendfsync always
EOF
    say "redis: starting on $HOST:$REDIS_PORT"
    rm -f "$REDIS_PIDFILE"
    redis-server "$REDIS_CONF" 9>&- || { show_log "$REDIS_LOG"; die "redis: failed to start"; }
}

wait_redis() {
    wait_healthy redis 30 "$REDIS_PIDFILE" redis-server "$REDIS_LOG" redis_ok || die "redis did not become healthy"
    ok "redis: healthy (PONG) -- redis://$HOST:$REDIS_PORT/0"
}

# ---------------------------------------------------------------------------- mail

start_mail() {
    local pid
    if pid="$(running "$MAIL_PIDFILE" mailcatcher.py)"; then
        ok "mail: already running (pid $pid)"
        return 0
    fi
    require_free_port "mail (smtp)" "$SMTP_PORT"
    mkdir -p "$MAIL_DIR" "$MAILCATCHER_DIR"
    say "mail: starting SMTP catcher on $HOST:$SMTP_PORT"
    setsid nohup "$PY" -u "$SCRIPT_DIR/mailcatcher.py" \
        --host "$HOST" --port "$SMTP_PORT" --dir "$MAIL_DIR" \
        >>"$MAIL_LOG" 2>&1 </dev/null 9>&- &
    echo $! >"$MAIL_PIDFILE"
}

wait_mail() {
    wait_healthy mail 30 "$MAIL_PIDFILE" mailcatcher.py "$MAIL_LOG" smtp_ok || die "mail catcher did not become healthy"
    ok "mail: healthy -- smtp://$HOST:$SMTP_PORT, messages in ${MAIL_DIR#"$ROOT"/}/"
}

# ---------------------------------------------------------------------------- commands

# up/down/wipe take a lock so that two callers (say, two test sessions) cannot
# start two brokers on the same data directory. The lock is fd 9; every server is
# started with "9>&-" so that it does not inherit (and keep holding) the lock.
take_lock() {
    mkdir -p "$STACK"
    exec 9>"$STACK/.lock"
    if ! flock -n 9; then
        say "another stack.sh is running; waiting for it"
        flock -w 300 9 || die "timed out waiting for the other stack.sh"
    fi
}

cmd_up() {
    local start
    start="$(now)"
    take_lock
    ensure_tools
    # Start everything first and wait afterwards: Kafka is by far the slowest,
    # so Redis and the catcher come up while the JVM is booting.
    start_kafka
    start_redis
    start_mail
    start_postgres
    start_standins
    wait_redis
    wait_mail
    wait_postgres
    wait_kafka
    wait_standins
    say "stack is up in $(since "$start")s: kafka $HOST:$KAFKA_PORT, redis redis://$HOST:$REDIS_PORT/0, smtp $HOST:$SMTP_PORT"
}

cmd_down() {
    local wipe=${1:-}
    take_lock
    # Reverse order of dependence; Kafka's controlled shutdown takes a few seconds.
    stop_standins
    stop_process mail "$MAIL_PIDFILE" mailcatcher.py 10
    stop_postgres
    stop_process redis "$REDIS_PIDFILE" redis-server 30
    stop_process kafka "$KAFKA_PIDFILE" kafka.Kafka 60
    if [[ "$wipe" == --wipe ]]; then
        say "wiping stack data (keeping the downloaded Kafka jars)"
        rm -rf "$KAFKA_DATA" "$KAFKA_DIR"/server.log* "$KAFKA_OUT" "$KAFKA_CONF" \
            "$KAFKA_DIR/format.out" "$KAFKA_DIR/formatted-controller-port" \
            "$REDIS_DIR" "$MAIL_DIR" "$MAILCATCHER_DIR" "$PG_DIR" "$INBOX_DIR"
        ok "wiped"
    else
        ok "stack is down (data kept in ${STACK#"$ROOT"/}/; '$0 wipe' deletes it)"
    fi
}

cmd_status() {
    local down=0 pid line
    if pid="$(running "$KAFKA_PIDFILE" kafka.Kafka)"; then
        if line="$(kafka_ok --timeout 5 2>&1)"; then
            ok "kafka  up      pid $pid, $HOST:$KAFKA_PORT -- ${line#kafka at * is healthy: }"
        else
            warn "kafka  running pid $pid but not healthy: $line"; down=1
        fi
    else
        warn "kafka  down"; down=1
    fi
    if pid="$(running "$REDIS_PIDFILE" redis-server)"; then
        if redis_ok; then ok "redis  up      pid $pid, redis://$HOST:$REDIS_PORT/0"
        else warn "redis  running pid $pid but not answering PING"; down=1; fi
    else
        warn "redis  down"; down=1
    fi
    if pid="$(running "$MAIL_PIDFILE" mailcatcher.py)"; then
        if smtp_ok; then
            ok "mail   up      pid $pid, smtp://$HOST:$SMTP_PORT, $(find "$MAIL_DIR" -name '*.eml' 2>/dev/null | wc -l) message file(s) in ${MAIL_DIR#"$ROOT"/}/"
        else warn "mail   running pid $pid but not greeting"; down=1; fi
    else
        warn "mail   down"; down=1
    fi
    status_postgres || down=1
    status_standins
    return "$down"
}

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
}

main() {
    case "${1:-}" in
        up) cmd_up ;;
        down)
            [[ -z "${2:-}" || "$2" == --wipe ]] || { usage >&2; exit 2; }
            cmd_down "${2:-}" ;;
        wipe) cmd_down --wipe ;;
        status) cmd_status ;;
        tools) mkdir -p "$STACK" && ensure_tools ;;
        sentinel-up) cmd_sentinel_up ;;
        sentinel-down)
            [[ -z "${2:-}" || "$2" == --wipe ]] || { usage >&2; exit 2; }
            cmd_sentinel_down "${2:-}" ;;
        sentinel-status) cmd_sentinel_status ;;
        -h | --help | help) usage ;;
        *) usage >&2; exit 2 ;;
    esac
}

main "$@"
