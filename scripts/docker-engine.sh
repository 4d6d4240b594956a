#!/bin/sh
# Make sure a Docker engine answers on this machine, for the container test matrix.
#
# Idempotent: does nothing when `docker info` already works. Otherwise installs
# docker.io and debootstrap (when missing, as root), starts
#   dockerd --bridge=none --iptables=false
# in the background (no bridge, no iptables: every container uses the host's
# network, as the README's container matrix section says) and waits until it answers.
#
# Environment:
#   BTC_DOCKERD_LOG      dockerd's log file (default /var/log/btc-dockerd.log)
#   BTC_DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
set -eu

LOG=${BTC_DOCKERD_LOG:-/var/log/btc-dockerd.log}
TIMEOUT=${BTC_DOCKERD_TIMEOUT:-60}

die() {
    echo "docker-engine.sh: $*" >&2
    exit 1
}

engine_answers() {
    command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

if engine_answers; then
    echo "docker-engine.sh: engine already running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
    exit 0
fi

missing=""
command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
command -v debootstrap >/dev/null 2>&1 || missing="$missing debootstrap"
if [ -n "$missing" ]; then
    [ "$(id -u)" -eq 0 ] || die "needs$missing installed; run as root or: sudo apt-get install$missing"
    echo "docker-engine.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || die "apt-get update failed"
    # shellcheck disable=SC2086  # word splitting of the package list is intended
    apt-get install -y -qq --no-install-recommends $missing >/dev/null \
        || die "apt-get install$missing failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd not found after installing docker.io"

[ "$(id -u)" -eq 0 ] || die "dockerd is not running and starting it needs root"

# A dockerd of ours may already be starting (e.g. a concurrent run): don't start a second one.
if ! pgrep -x dockerd >/dev/null 2>&1; then
    mkdir -p "$(dirname "$LOG")"
    echo "docker-engine.sh: starting dockerd --bridge=none --iptables=false (log: $LOG)"
    # setsid + nohup: dockerd outlives this script and the shell that ran it.
    setsid nohup dockerd --bridge=none --iptables=false >>"$LOG" 2>&1 </dev/null &
    dockerd_pid=$!
else
    dockerd_pid=""
fi

deadline=$(( $(date +%s) + TIMEOUT ))
delay=0.1
until engine_answers; do
    if [ -n "$dockerd_pid" ] && ! kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "--- last lines of $LOG ---" >&2
        tail -n 25 "$LOG" >&2 || true
        die "dockerd exited right away: Docker can't run on this machine (see $LOG)"
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "--- last lines of $LOG ---" >&2
        tail -n 25 "$LOG" >&2 || true
        die "dockerd did not answer within ${TIMEOUT}s (see $LOG)"
    fi
    sleep "$delay"
    # Back off up to one second between polls.
    case $delay in 0.1) delay=0.3 ;; 0.3) delay=1 ;; esac
done
echo "docker-engine.sh: engine running ($(docker version --format '{{.Server.Version}}' 2>/dev/null))"
