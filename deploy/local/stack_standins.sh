# shellcheck shell=bash
# The provider stand-ins and the inbox page for the local stack: sourced by
# deploy/local/stack.sh, which provides HOST, ROOT, STACK, PY, MAIL_DIR, KAFKA_PORT,
# say/ok/warn, running, port_open, wait_healthy, stop_process.
#
# `python -m deploy.local.standins` serves every provider stand-in (SMS, robots, the
# work-chat apps, the webhook) on 127.0.0.1:$DUBAN_STACK_STANDINS_PORT (8120) and up, and
# records each message in .stack/inbox/messages.jsonl; deploy/local/inbox.py shows them,
# with the caught mail, on http://127.0.0.1:$DUBAN_STACK_INBOX_PORT/ (8030).
# They are conveniences of `make run`: when they cannot start, `up` warns and goes on,
# and `status` reports them without failing (the tests bring their own stand-ins).

STANDINS_PORT="${DUBAN_STACK_STANDINS_PORT:-8120}"
INBOX_PORT="${DUBAN_STACK_INBOX_PORT:-8030}"
INBOX_DIR="$STACK/inbox"
STANDINS_PIDFILE="$INBOX_DIR/standins.pid"
STANDINS_LOG="$INBOX_DIR/standins.log"
INBOX_PIDFILE="$INBOX_DIR/inbox.pid"
INBOX_LOG="$INBOX_DIR/inbox.log"

standins_ok() { port_open "$STANDINS_PORT"; }
inbox_ok() { port_open "$INBOX_PORT"; }

start_standins() {
    local pid
    mkdir -p "$INBOX_DIR"
    if pid="$(running "$STANDINS_PIDFILE" deploy.local.standins)"; then
        ok "stand-ins: already running (pid $pid)"
    elif port_open "$STANDINS_PORT"; then
        warn "stand-ins: port $HOST:$STANDINS_PORT is taken by another process; not started (DUBAN_STACK_STANDINS_PORT)"
    else
        say "stand-ins: starting on $HOST:$STANDINS_PORT and up"
        # In a subshell for `cd` (python -m finds the package from the repo root); $! is
        # then the python process itself, as the pid file must say.
        (
            cd "$ROOT" || exit 1
            setsid nohup "$PY" -u -m deploy.local.standins --base-port "$STANDINS_PORT" \
                --spool "$INBOX_DIR/messages.jsonl" >>"$STANDINS_LOG" 2>&1 </dev/null 9>&- &
            echo $! >"$STANDINS_PIDFILE"
        )
    fi
    if pid="$(running "$INBOX_PIDFILE" deploy.local.inbox)"; then
        ok "inbox: already running (pid $pid)"
    elif port_open "$INBOX_PORT"; then
        warn "inbox: port $HOST:$INBOX_PORT is taken by another process; not started (DUBAN_STACK_INBOX_PORT)"
    else
        say "inbox: starting on http://$HOST:$INBOX_PORT/"
        (
            cd "$ROOT" || exit 1
            setsid nohup "$PY" -u -m deploy.local.inbox --host "$HOST" --port "$INBOX_PORT" \
                --spool "$INBOX_DIR/messages.jsonl" --mail-dir "$MAIL_DIR" \
                --bootstrap "$HOST:$KAFKA_PORT" >>"$INBOX_LOG" 2>&1 </dev/null 9>&- &
            echo $! >"$INBOX_PIDFILE"
        )
    fi
}

wait_standins() {
    if wait_healthy stand-ins 30 "$STANDINS_PIDFILE" deploy.local.standins "$STANDINS_LOG" standins_ok; then
        ok "stand-ins: healthy -- every channel of deploy/config/example on $HOST:$STANDINS_PORT and up"
    else
        warn "stand-ins did not start; make run's channels other than email will fail"
    fi
    if wait_healthy inbox 30 "$INBOX_PIDFILE" deploy.local.inbox "$INBOX_LOG" inbox_ok; then
        ok "inbox: healthy -- http://$HOST:$INBOX_PORT/"
    else
        warn "inbox did not start"
    fi
}

stop_standins() {
    stop_process inbox "$INBOX_PIDFILE" deploy.local.inbox 10
    stop_process stand-ins "$STANDINS_PIDFILE" deploy.local.standins 10
}

status_standins() {  # reports only: always returns 0
    local pid
    if pid="$(running "$STANDINS_PIDFILE" deploy.local.standins)" && standins_ok; then
        ok "stand-ins up  pid $pid, $HOST:$STANDINS_PORT and up, $(cat "$INBOX_DIR/messages.jsonl" 2>/dev/null | wc -l) message(s)"
    else
        warn "stand-ins down (only make run needs them)"
    fi
    if pid="$(running "$INBOX_PIDFILE" deploy.local.inbox)" && inbox_ok; then
        ok "inbox  up     pid $pid, http://$HOST:$INBOX_PORT/"
    else
        warn "inbox  down (only make run needs it)"
    fi
    return 0
}
