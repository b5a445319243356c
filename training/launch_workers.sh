#!/usr/bin/env bash
# Runs N local workers of one MultiWorkerMirroredStrategy training on this machine.
#
#   training/launch_workers.sh N --recipe NAME --workdir DIR [--set KEY=VALUE ...]
#       [--quiet] [--base-port P] [--oversubscribe]
#
# Each worker runs training/launch.py with the given arguments, --strategy multi_worker
# and its own TF_CONFIG (ports: P, P+1, ... with --base-port, else free ones). Worker i
# logs to DIR/worker-<i>.log. N may not exceed the machine's GPUs (as `nvidia-smi -L`
# lists them), or its CPU cores (`nproc`) without GPUs, unless --oversubscribe is given.
#
# SIGTERM, SIGINT (Ctrl-C) or SIGHUP is sent on to every worker as SIGTERM: they save a
# checkpoint at the same step and stop; the script waits for them and exits with their
# status (0); re-run to resume. The workers ignore SIGINT and SIGHUP themselves, and never
# outlive the script: each asks Linux for SIGTERM when the script dies, even by SIGKILL
# (training/launch.py, KERAS_PREACT_LAUNCHER_PID). When a worker fails, the others (stuck
# waiting for it) are stopped too. Exit status: 0 when every worker exited 0, else the
# first failing worker's status (2 bad arguments or data, 3 non-finite loss); 2 for bad
# arguments of the script. For several machines, see training/README.md.
set -eu

me=launch_workers.sh
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ] && [ -x "$root/.venv/bin/python" ]; then PYTHON=$root/.venv/bin/python; fi
python=${PYTHON:-python3}
grace=60 # seconds the other workers get to stop after one failed, before SIGKILL

usage() {
    echo "$me: error: $1" >&2
    echo "usage: $me N --recipe NAME --workdir DIR [--set KEY=VALUE ...] [--quiet] [--base-port P] [--oversubscribe]" >&2
    exit 2
}

capacity() { # how many workers this machine runs side by side: its GPUs, else its CPU cores
    local gpus
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU') || true
    if [ "${gpus:-0}" -gt 0 ]; then
        echo "$gpus GPUs (nvidia-smi -L)"
    else
        echo "$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN) CPU cores (nproc)"
    fi
}

n=${1:-}
case $n in
    [1-9] | [1-9][0-9] | [1-9][0-9][0-9]) ;;
    *) usage "N (the number of workers) must be a positive integer, 1 to 999; received '$n'" ;;
esac
shift

# Keep the trainer's arguments; take out --base-port and --oversubscribe, find --workdir.
args=() workdir='' base_port='' oversubscribe=''
while [ $# -gt 0 ]; do
    case $1 in
        --oversubscribe) oversubscribe=1; shift; continue ;;
        --base-port) [ $# -ge 2 ] || usage "--base-port needs a port number"; base_port=$2; shift 2; continue ;;
        --base-port=*) base_port=${1#*=}; shift; continue ;;
        --strategy | --strategy=*) usage "--strategy is always multi_worker here; leave it out" ;;
        --workdir) [ $# -ge 2 ] || usage "--workdir needs a directory"; workdir=$2 ;;
        --workdir=*) workdir=${1#*=} ;;
    esac
    args+=("$1")
    shift
done
[ -n "$workdir" ] || usage "--workdir DIR is required (worker i logs to DIR/worker-<i>.log)"

limit=$(capacity)
if [ -z "$oversubscribe" ] && [ "$n" -gt "${limit%% *}" ]; then
    echo "$me: error: N=$n workers is more than this machine's $limit; pass --oversubscribe to start them anyway" >&2
    exit 2
fi

if [ -n "$base_port" ]; then
    case $base_port in
        '' | *[!0-9]* | 0*) usage "--base-port must be a port number from 1024 to 65535; received '$base_port'" ;;
    esac
    [ "${#base_port}" -le 5 ] && [ "$base_port" -ge 1024 ] && [ $((base_port + n - 1)) -le 65535 ] ||
        usage "--base-port must be from 1024 to $((65536 - n)) for $n workers; received '$base_port'"
    ports=$(seq "$base_port" $((base_port + n - 1)))
else
    # Free ports: bind all N to port 0 at once (so they differ), print them, release them.
    ports=$("$python" -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("localhost", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$n")
fi
cluster=$(printf '"localhost:%s", ' $ports)
cluster="[${cluster%, }]"

stop() { # stop SIGNAL: send SIGNAL to the workers started so far
    for pid in ${pids[@]+"${pids[@]}"}; do kill -s "$1" "$pid" 2>/dev/null || true; done
}
on_signal() { # on_signal NAME: the script got SIGNAL NAME; the workers get SIGTERM
    signalled=$1
    if [ "$1" = INT ] && [ -t 2 ]; then echo >&2; fi # a line of its own, after the terminal's ^C
    echo "$me: got SIG$1; sending SIGTERM to the workers" >&2
    stop TERM
}
pids=() signalled=''
for sig in HUP INT TERM; do trap "on_signal $sig" "$sig"; done

start_worker() { # start_worker I: worker I in the background, ignoring SIGHUP and SIGINT
    (
        trap '' HUP INT # the script forwards them as SIGTERM
        export TF_CONFIG="{\"cluster\": {\"worker\": $cluster}, \"task\": {\"type\": \"worker\", \"index\": $1}}"
        export KERAS_PREACT_LAUNCHER_PID=$$ # the worker gets SIGTERM when this script dies
        exec "$python" "$root/training/launch.py" "${args[@]}" --strategy multi_worker
    ) >"$workdir/worker-$1.log" 2>&1 &
    pids+=($!)
}

mkdir -p "$workdir"
for ((i = 0; i < n; i++)); do start_worker "$i"; done
echo "$me: started $n workers (pids ${pids[*]}) on localhost ports $(echo $ports); logs: $workdir/worker-<i>.log"
if [ -n "$signalled" ]; then stop TERM; fi # a signal while they started: the later ones too

# Poll each worker once a second. The pause is a `wait` for a background sleep, which a
# trapped signal interrupts at once (bash runs a trap only after a foreground command).
status=() failed='' deadline=''
while :; do
    running=0
    for ((i = 0; i < n; i++)); do
        [ -z "${status[i]:-}" ] || continue
        if kill -0 "${pids[i]}" 2>/dev/null; then running=$((running + 1)); continue; fi
        rc=0 && wait "${pids[i]}" || rc=$?
        status[i]=$rc
        if [ "$rc" -ne 0 ] && [ -z "$failed" ]; then failed=$i; fi
    done
    [ "$running" -gt 0 ] || break
    if [ -n "$failed" ] && [ -z "$deadline" ]; then
        echo "$me: worker $failed failed; stopping the other workers" >&2
        stop TERM
        deadline=$((SECONDS + grace))
    elif [ -n "$deadline" ] && [ "$SECONDS" -ge "$deadline" ]; then
        stop KILL
    fi
    sleep 1 &
    wait $! || true
done

for ((i = 0; i < n; i++)); do
    [ "${status[i]}" -eq 0 ] && continue
    echo "$me: worker $i (pid ${pids[i]}) exited with status ${status[i]}; the end of $workdir/worker-$i.log:" >&2
    tail -n 20 "$workdir/worker-$i.log" | sed 's/^/    /' >&2
done
if [ -n "$failed" ]; then exit "${status[failed]}"; fi
echo "$me: all $n workers exited 0; the chief's (worker 0) summary:"
tail -n 2 "$workdir/worker-0.log"
