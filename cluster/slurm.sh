#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for the tests and for trying the Slurm executor:
# munged, slurmctld and slurmd started by hand (no systemd, no cgroups), bound to loopback only, with every file
# (keys, config, state, spool, logs, pids) under one folder of the repository (.cluster/slurm, ignored by git).
#
#   cluster/slurm.sh start     bring the cluster up (does nothing if it is already up); needs root
#   cluster/slurm.sh env       print `export SLURM_CONF=…` for the clients (eval "$(cluster/slurm.sh env)")
#   cluster/slurm.sh status    say whether it is up, and show the node
#   cluster/slurm.sh stop      cancel every job, then stop slurmd, slurmctld and munged, waiting for each to exit
#
# Needs Debian's slurmctld, slurmd, slurm-client and munge. APERTURE_SLURM_DIR moves the folder;
# APERTURE_SLURM_PORT sets slurmctld's port (slurmd takes the next one; by default a port pair derived from the
# checkout's path in 17000–18999), so a second checkout runs its own cluster beside this one.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$(realpath -m "${APERTURE_SLURM_DIR:-$root/.cluster/slurm}")"
# Ports derived from the checkout's path, so two checkouts on one machine run two clusters without colliding.
port="${APERTURE_SLURM_PORT:-$((17000 + 2 * ($(printf '%s' "$root" | cksum | cut -d' ' -f1) % 1000)))}"
conf="$dir/etc/slurm.conf"
socket="$dir/munge/run/munge.socket"

say() { echo "slurm.sh: $*" >&2; }
die() { say "$*"; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Waits up to $2 seconds for process $1 to exit.
wait_exit() {
    local pid="$1" limit="$2"
    for _ in $(seq $((limit * 10))); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# The pid is read once: a daemon removes its own pid file as it exits.
stop_daemon() {
    local name="$1" file="$2" pid
    pid="$(cat "$file" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_exit "$pid" 20; then
            say "$name did not stop within 20 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            wait_exit "$pid" 5 || die "$name (pid $pid) survived SIGKILL"
        fi
    fi
    rm -f "$file"
}

cluster_up() {
    pid_alive "$dir/run/slurmctld.pid" && pid_alive "$dir/run/slurmd.pid" && pid_alive "$dir/munge/run/munged.pid" \
        && SLURM_CONF="$conf" scontrol ping 2>/dev/null | grep -q 'UP'
}

start() {
    [ "$(id -u)" -eq 0 ] || die "start needs root (slurmd runs jobs as their users, and munged as the munge user)"
    for tool in munged munge unmunge slurmctld slurmd scontrol sinfo sbatch; do
        command -v "$tool" >/dev/null 2>&1 \
            || die "$tool not found: install Debian's slurmctld, slurmd, slurm-client and munge (apt-get install -y --no-install-recommends slurmctld slurmd slurm-client munge)"
    done
    if cluster_up; then say "already up ($conf)"; return 0; fi
    stop quietly   # whatever is left of an earlier, broken start

    mkdir -p "$dir"/{etc,state,spool,log,run,jobs} "$dir/munge"/{etc,run,lib,log}
    # munge: a private key (1024 random bytes, 0400, owned by munge) in a 0700 folder; the socket folder is 0755 so
    # that every client can reach the socket.
    chown munge:munge "$dir/munge"/{etc,run,lib,log}
    chmod 700 "$dir/munge/etc" "$dir/munge/lib" "$dir/munge/log"
    chmod 755 "$dir/munge" "$dir/munge/run"
    if [ ! -s "$dir/munge/etc/munge.key" ]; then
        head -c 1024 /dev/urandom > "$dir/munge/etc/munge.key"
        chown munge:munge "$dir/munge/etc/munge.key"
        chmod 400 "$dir/munge/etc/munge.key"
    fi
    runuser -u munge -- munged --socket="$socket" --key-file="$dir/munge/etc/munge.key" \
        --pid-file="$dir/munge/run/munged.pid" --seed-file="$dir/munge/lib/munged.seed" --log-file="$dir/munge/log/munged.log"
    for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
    munge -S "$socket" -n | unmunge -S "$socket" >/dev/null || die "munged does not answer on $socket (see $dir/munge/log/munged.log)"

    # The node's hardware as slurmd sees it: CPUs and memory must match the machine, or the node goes DOWN and jobs pend.
    local hardware
    hardware="$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ UpTime=.*//')"
    cat > "$conf" <<EOF
# Written by cluster/slurm.sh: a single-node cluster on loopback, no accounting, no cgroups.
ClusterName=aperture
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job may start again only once its credentials have expired (120 s by default); 10 s keeps
# the signal-and-requeue test short.
AuthInfo=socket=$socket,cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# A requeued task waits for the backfill scheduler (every 30 s by default); every 5 s keeps requeues short.
SchedulerParameters=bf_interval=5
MailProg=/bin/true
ReturnToService=2
EnforcePartLimits=ALL
MinJobAge=3600
MaxArraySize=10001
KillWait=10
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    slurmctld -f "$conf"
    slurmd -f "$conf" -N localhost
    for _ in $(seq 100); do
        if SLURM_CONF="$conf" sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            say "up: $conf (node: $hardware)"
            return 0
        fi
        sleep 0.1
    done
    die "the node did not come up within 10 s: $(SLURM_CONF="$conf" sinfo -h -N -o '%T %E' 2>&1) (see $dir/log/)"
}

stop() {
    local quiet="${1:-}"
    # Jobs first: slurmstepd outlives slurmd, and a job left running would hold its files open.
    if pid_alive "$dir/run/slurmctld.pid"; then
        SLURM_CONF="$conf" scancel --full --quiet --user=root 2>/dev/null || true
        SLURM_CONF="$conf" scancel --full --quiet 2>/dev/null || true
        for _ in $(seq 100); do
            [ -z "$(SLURM_CONF="$conf" squeue -h -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    stop_daemon slurmd "$dir/run/slurmd.pid"
    stop_daemon slurmctld "$dir/run/slurmctld.pid"
    stop_daemon munged "$dir/munge/run/munged.pid"
    [ -n "$quiet" ] || say "stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$conf" ;;
    status)
        if cluster_up; then echo "up: $conf"; SLURM_CONF="$conf" sinfo -N; else echo "down"; exit 1; fi ;;
    *) echo "usage: cluster/slurm.sh start|stop|env|status" >&2; exit 2 ;;
esac
