#!/usr/bin/env bash
# A real single-node SLURM cluster on localhost, for tests of the SLURM profile
# (snakemake-executor-plugin-slurm) without a cluster.
#
#   scripts/slurm/local-slurm.sh install   # apt-get install slurm-wlm munge slurmdbd mariadb-server
#   scripts/slurm/local-slurm.sh start     # munged, mariadbd, slurmdbd, slurmctld, slurmd; waits
#                                          # until the node is idle
#   eval "$(scripts/slurm/local-slurm.sh env)"   # SLURM_CONF for sbatch, sacct, snakemake ...
#   scripts/slurm/local-slurm.sh status
#   scripts/slurm/local-slurm.sh stop      # cancels jobs, stops every daemon it started
#
# Everything it writes (configuration, munge key, database, spool, logs, pid files) lives in
# $EQUIGLASS_SLURM_DIR (default /tmp/equiglass-slurm); `rm -rf` it after `stop` to start afresh.
# The daemons use non-default ports ($EQUIGLASS_SLURM_PORT, +1, +2 for slurmctld, slurmd,
# slurmdbd, reached on 127.0.0.1; MariaDB on 127.0.0.1:$EQUIGLASS_SLURM_DB_PORT only), their own
# munge daemon, socket and random key, so they do not meet a system SLURM, munge or MariaDB. Only
# one such cluster can run at a time on a machine unless the ports are changed.
#
# The node has a `gpu` GRES (count $EQUIGLASS_SLURM_GPUS, default 2) backed by dummy device
# files, so that `--gpus=1` / `--gres=gpu:1` jobs are schedulable on a machine without a GPU
# (CUDA_VISIBLE_DEVICES is set to 0 or 1 in them). Container friendly: no cgroups
# (proctrack/linuxproc, task/none), every daemon runs as root.
#
# Exit status: 0 on success; 3 when SLURM cannot be installed or run on this machine at all (no
# apt-get, not root; the message on stderr starts with "local-slurm: cannot"), so that test
# fixtures can skip with that reason; 1 on any other failure (a daemon that does not start).
set -euo pipefail

STATE=${EQUIGLASS_SLURM_DIR:-/tmp/equiglass-slurm}
CLUSTER=${EQUIGLASS_SLURM_CLUSTER:-equiglass}
ACCOUNT=${EQUIGLASS_SLURM_ACCOUNT:-testacct}
GPUS=${EQUIGLASS_SLURM_GPUS:-2}
PORT=${EQUIGLASS_SLURM_PORT:-16817}
DB_PORT=${EQUIGLASS_SLURM_DB_PORT:-16306}
CTLD_PORT=$PORT
SLURMD_PORT=$((PORT + 1))
DBD_PORT=$((PORT + 2))
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server mariadb-client)
NEEDED_BINARIES=(sbatch sacct sacctmgr sinfo squeue scancel scontrol srun slurmctld slurmd slurmdbd
                 slurmstepd munged mariadbd mariadb mariadb-install-db)

ETC=$STATE/etc
SLURM_CONF_FILE=$ETC/slurm.conf
MUNGE_SOCKET=$STATE/run/munge.socket
DB_SOCKET=$STATE/mysql/mysqld.sock

log() { echo "local-slurm: $*" >&2; }
cannot() { log "cannot $*"; exit 3; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------------------------
sbin_path() { export PATH="$PATH:/usr/sbin:/sbin"; }

installed() {
    sbin_path
    local b
    for b in "${NEEDED_BINARIES[@]}"; do
        command -v "$b" >/dev/null 2>&1 || return 1
    done
    # the slurmdbd MySQL backend is a separate package on Debian (slurm-wlm-mysql-plugin)
    compgen -G "/usr/lib/*/slurm-wlm/accounting_storage_mysql.so" >/dev/null \
        || compgen -G "/usr/lib*/slurm/accounting_storage_mysql.so" >/dev/null
}

cmd_install() {
    if installed; then
        log "install: already installed ($(slurm_version))"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 \
        || cannot "install SLURM: no apt-get on this machine (install ${PACKAGES[*]} by hand)"
    [ "$(id -u)" = 0 ] \
        || cannot "install SLURM: not root (run: sudo apt-get install ${PACKAGES[*]})"
    # Keep the packages' maintainer scripts from starting the system-wide munge, mariadb,
    # slurmctld, slurmd and slurmdbd services: only this script's isolated daemons should run.
    local policy=/usr/sbin/policy-rc.d added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && added_policy=1
    fi
    local rc=0
    {
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq \
            && apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
    } || rc=$?
    [ "$added_policy" = 1 ] && rm -f "$policy"
    [ "$rc" = 0 ] || cannot "install SLURM: apt-get install ${PACKAGES[*]} failed (exit $rc)"
    installed || cannot "install SLURM: packages installed but binaries are missing"
    log "install: installed $(slurm_version)"
}

slurm_version() { sbin_path; slurmctld -V 2>/dev/null || echo "slurm (unknown version)"; }

# ---------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------
node_name() { hostname -s; }

real_memory_mb() {
    # most of the memory: all but 10 %, at least 1 GB
    awk '/^MemTotal:/ { m = int($2 / 1024 * 0.9); if (m < 1024) m = 1024; print m }' /proc/meminfo
}

db_password() {
    local f=$STATE/mysql/slurm.password
    if [ ! -s "$f" ]; then
        # a throwaway password for a database that only listens on 127.0.0.1 in $STATE
        (umask 077; od -An -tx1 -N12 /dev/urandom | tr -d ' \n' > "$f")
    fi
    cat "$f"
}

write_srun_wrapper() {
    # snakemake-executor-plugin-slurm-jobstep (0.6.1) runs each rule as `srun ... snakemake`
    # inside the batch job, with every SLURM_* variable except the job's identity removed from
    # the environment, SLURM_CONF included; srun then looks for /etc/slurm/slurm.conf and
    # fails ("Could not establish a configuration source"). This srun, first on the PATH
    # that `env` prints (sbatch --export=ALL carries it into jobs), puts SLURM_CONF back.
    local real
    real=$(PATH=$(echo "$PATH" | tr ':' '\n' | grep -vxF "$STATE/bin" | paste -sd:) \
        command -v srun) || die "no srun on PATH"
    mkdir -p "$STATE/bin"
    cat > "$STATE/bin/srun" <<EOF
#!/bin/sh
# generated by scripts/slurm/local-slurm.sh start: srun with this cluster's SLURM_CONF
export SLURM_CONF=\${SLURM_CONF:-$SLURM_CONF_FILE}
exec $real "\$@"
EOF
    chmod 755 "$STATE/bin/srun"
}

write_config() {
    mkdir -p "$ETC" "$STATE/munge" "$STATE/mysql" "$STATE/log" "$STATE/run" \
             "$STATE/spool/ctld" "$STATE/spool/d"
    chmod 755 "$STATE" "$STATE/run" "$STATE/log"
    chmod 700 "$STATE/munge" "$STATE/mysql"
    local node cpus mem
    node=$(node_name)
    cpus=$(nproc)
    mem=$(real_memory_mb)
    cat > "$SLURM_CONF_FILE" <<EOF
# generated by scripts/slurm/local-slurm.sh start; do not edit (rewritten at every start)
ClusterName=$CLUSTER
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# containers: no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MpiDefault=none
SwitchType=switch/none
# trust this file over what slurmd detects (containers report host CPUs, memory)
SlurmdParameters=config_overrides
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=500
GresTypes=gpu
# accounting through slurmdbd (sacct, sacctmgr)
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
# for slurmdbd connections the munge socket comes from here, not from AuthInfo
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
MailProg=/bin/true
# fast turnaround for tests: enforce time limits exactly, kill quickly
OverTimeLimit=0
KillWait=2
InactiveLimit=0
MinJobAge=300
MessageTimeout=10
SlurmctldTimeout=30
SlurmdTimeout=60
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=cpu Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$node MaxTime=INFINITE State=UP
EOF
    # gres/gpu in Slurm 22.05 drops GPUs without File= ("Removing file-less GPU"), so each
    # fake GPU gets a device file: a character device like /dev/null (1,3) where mknod is
    # allowed, else a plain file (slurmd then logs "not a valid character or block device"
    # but still counts it). No GPU is touched: TaskPlugin=task/none constrains no devices.
    mkdir -p "$STATE/dev"
    local i
    for i in $(seq 0 $((GPUS - 1))); do
        if [ ! -e "$STATE/dev/gpu$i" ]; then
            mknod "$STATE/dev/gpu$i" c 1 3 2>/dev/null || touch "$STATE/dev/gpu$i"
        fi
    done
    cat > "$ETC/gres.conf" <<EOF
# generated by scripts/slurm/local-slurm.sh start: GPUs backed by dummy device files
AutoDetect=off
NodeName=$node Name=gpu File=$STATE/dev/gpu[0-$((GPUS - 1))]
EOF
    write_srun_wrapper
    local pass
    pass=$(db_password)
    (umask 077; cat > "$ETC/slurmdbd.conf" <<EOF
# generated by scripts/slurm/local-slurm.sh start; do not edit (rewritten at every start)
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
LogFile=$STATE/log/slurmdbd.log
PidFile=$STATE/run/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
EOF
    )
    chmod 600 "$ETC/slurmdbd.conf"
}

# ---------------------------------------------------------------------------------------------
# daemons
# ---------------------------------------------------------------------------------------------
pid_of() {  # pid_of NAME: the running pid from NAME's pid file, or nothing
    local f=$STATE/run/$1.pid pid
    [ -s "$f" ] || return 1
    pid=$(tr -dc '0-9' < "$f")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

wait_for() {  # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds, at most SECONDS
    local limit=$1 t0
    shift 2
    t0=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        if [ $(($(date +%s) - t0)) -ge "$limit" ]; then
            return 1
        fi
        sleep 0.3
    done
}

start_munge() {
    running munged && return 0
    if [ ! -s "$STATE/munge/munge.key" ]; then
        (umask 077; dd if=/dev/urandom of="$STATE/munge/munge.key" bs=1024 count=1 status=none)
    fi
    chmod 400 "$STATE/munge/munge.key"
    # the key (and seed) in a private directory; the socket in $STATE/run, which munged wants
    # searchable by all. --force only if munged finds the directories insecure (odd umask or
    # parent permissions); it still refuses a key anyone else can read.
    local args=(--socket="$MUNGE_SOCKET" --key-file="$STATE/munge/munge.key"
                --pid-file="$STATE/run/munged.pid" --log-file="$STATE/log/munged.log"
                --seed-file="$STATE/munge/munged.seed")
    munged "${args[@]}" 2>/dev/null || munged --force "${args[@]}" \
        || die "cannot start munged (see $STATE/log/munged.log)"
    wait_for 20 munged test -S "$MUNGE_SOCKET" || die "cannot start munged: no socket $MUNGE_SOCKET"
}

# shellcheck disable=SC2120  # called with arguments through wait_for
db_client() { mariadb --no-defaults --socket="$DB_SOCKET" -u root "$@"; }

start_mariadb() {
    running mariadbd && return 0
    local data=$STATE/mysql/data
    if [ ! -d "$data/mysql" ]; then
        mariadb-install-db --no-defaults --datadir="$data" --user=root \
            --auth-root-authentication-method=socket --skip-test-db \
            > "$STATE/log/mariadb-install.log" 2>&1 \
            || die "cannot initialise MariaDB (see $STATE/log/mariadb-install.log)"
    fi
    # not a daemon by itself: run it detached, in its own session
    setsid mariadbd --no-defaults --user=root --datadir="$data" --socket="$DB_SOCKET" \
        --port="$DB_PORT" --bind-address=127.0.0.1 --pid-file="$STATE/run/mariadbd.pid" \
        --log-error="$STATE/log/mariadbd.log" --skip-log-bin --innodb-buffer-pool-size=64M \
        --innodb-log-file-size=64M --innodb-lock-wait-timeout=900 \
        < /dev/null > /dev/null 2>&1 &
    wait_for 60 mariadbd db_client -e 'SELECT 1' \
        || die "cannot start MariaDB (see $STATE/log/mariadbd.log)"
    local pass
    pass=$(db_password)
    db_client <<EOF || die "cannot create the slurm database user"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start_slurmdbd() {
    running slurmdbd && return 0
    # slurmdbd has no -f: it reads slurmdbd.conf next to $SLURM_CONF
    slurmdbd || die "cannot start slurmdbd (see $STATE/log/slurmdbd.log)"
    wait_for 60 slurmdbd sacctmgr -n list cluster \
        || die "cannot reach slurmdbd (see $STATE/log/slurmdbd.log)"
}

setup_accounts() {
    # cluster, test account, root in it (and as its default account); idempotent
    if [ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null || die "sacctmgr add cluster failed"
    fi
    if [ -z "$(sacctmgr -n -P list account "$ACCOUNT" format=account)" ]; then
        sacctmgr -i add account "$ACCOUNT" cluster="$CLUSTER" \
            description="equiglass tests" organization=equiglass >/dev/null \
            || die "sacctmgr add account failed"
    fi
    if ! sacctmgr -n -P list assoc user=root account="$ACCOUNT" format=account | grep -q .; then
        sacctmgr -i add user root account="$ACCOUNT" cluster="$CLUSTER" >/dev/null \
            || die "sacctmgr add user failed"
    fi
    sacctmgr -i modify user root set defaultaccount="$ACCOUNT" >/dev/null 2>&1 || true
}

start_slurmctld() {
    running slurmctld && return 0
    slurmctld -f "$SLURM_CONF_FILE" || die "cannot start slurmctld (see $STATE/log/slurmctld.log)"
    wait_for 60 slurmctld scontrol ping \
        || die "cannot reach slurmctld (see $STATE/log/slurmctld.log)"
}

start_slurmd() {
    running slurmd && return 0
    slurmd -f "$SLURM_CONF_FILE" || die "cannot start slurmd (see $STATE/log/slurmd.log)"
}

node_idle() {
    # idle (or busy with jobs); a node left drained or down by an earlier run (the state is
    # kept in StateSaveLocation, reason and all) is resumed once its slurmd responds
    local node state
    node=$(node_name)
    state=$(sinfo -h -N -n "$node" -o %T 2>/dev/null | head -1)
    case $state in
        idle | mixed | allocated | completing) return 0 ;;
        drain* | down) scontrol update nodename="$node" state=resume >/dev/null 2>&1 ;;
    esac
    return 1
}

cmd_start() {
    installed || cannot "start SLURM: not installed (run: $0 install)"
    [ "$(id -u)" = 0 ] || cannot "start SLURM: the daemons run as root here and you are not root"
    export SLURM_CONF=$SLURM_CONF_FILE
    if running munged && running mariadbd && running slurmdbd && running slurmctld \
        && running slurmd && node_idle; then
        log "start: already running; eval \"\$($0 env)\" to use it"
        return 0
    fi
    write_config
    start_munge
    start_mariadb
    start_slurmdbd
    setup_accounts
    start_slurmctld
    start_slurmd
    if ! wait_for 90 node node_idle; then
        sinfo -N -l >&2 || true
        die "cannot start SLURM: node $(node_name) not idle after 90 s (see $STATE/log/slurmd.log)"
    fi
    log "start: running ($(slurm_version), node $(node_name): $(nproc) CPUs," \
        "$(real_memory_mb) MB, gpu:$GPUS); eval \"\$($0 env)\" to use it"
}

# ---------------------------------------------------------------------------------------------
# stop
# ---------------------------------------------------------------------------------------------
stop_daemons() {  # stop_daemons NAME...: SIGTERM to all, wait up to 20 s, then SIGKILL
    local name pid pids=() i
    for name in "$@"; do
        if pid=$(pid_of "$name"); then
            kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
        fi
        rm -f "$STATE/run/$name.pid"
    done
    for i in $(seq 1 100); do
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && break
            pid=
        done
        [ -z "${pid:-}" ] && return 0
        sleep 0.2
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            log "stop: $pid ignored SIGTERM for 20 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

our_stray_pids() {
    # slurmstepd, job and daemon processes left behind: anything with a file, its working
    # directory or its executable's arguments in $STATE (not this script or its callers)
    local p self=$$
    for p in /proc/[0-9]*; do
        p=${p#/proc/}
        [ "$p" = "$self" ] && continue
        case $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null) in
            *local-slurm.sh*) continue ;;
            *slurmstepd* | *munged* | *mariadbd* | *slurmctld* | *slurmd*) ;;  # slurmd, slurmdbd
            *) continue ;;
        esac
        local f
        for f in "/proc/$p/cwd" "/proc/$p/fd/"*; do
            case $(readlink "$f" 2>/dev/null) in
                "$STATE"/*) echo "$p"; break ;;
            esac
        done
    done
}

no_jobs() { [ -z "$(squeue -h -o %A 2>/dev/null)" ]; }

cmd_stop() {
    sbin_path
    export SLURM_CONF=$SLURM_CONF_FILE
    if running slurmctld; then
        # cancel every job first, so that no slurmstepd or job process outlives slurmd
        local jobs
        mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
        if [ "${#jobs[@]}" -gt 0 ]; then
            scancel --full "${jobs[@]}" 2>/dev/null || true
            wait_for 30 jobs no_jobs || log "stop: jobs still there after 30 s, stopping anyway"
        fi
    fi
    # each takes about 2 s to exit; in three waves so that slurmdbd outlives slurmctld (the
    # last job records) and munged and MariaDB outlive slurmdbd
    stop_daemons slurmd slurmctld
    stop_daemons slurmdbd
    stop_daemons mariadbd munged
    local p
    for p in $(our_stray_pids); do
        log "stop: killing leftover process $p: $(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)"
        kill -KILL "$p" 2>/dev/null || true
    done
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$DB_SOCKET"
    if [ -n "$(our_stray_pids)" ]; then
        die "stop: processes still running: $(our_stray_pids | tr '\n' ' ')"
    fi
    log "stop: stopped (state kept in $STATE)"
}

# ---------------------------------------------------------------------------------------------
# status, env
# ---------------------------------------------------------------------------------------------
cmd_status() {
    sbin_path
    export SLURM_CONF=$SLURM_CONF_FILE
    local name pid all=0
    echo "state directory: $STATE"
    if installed; then echo "installed: $(slurm_version)"; else echo "installed: no"; fi
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if pid=$(pid_of "$name"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: stopped"
            all=1
        fi
    done
    if [ "$all" = 0 ]; then
        sinfo -N -o '%N %P %T %c %m %G' || all=1
    fi
    return "$all"
}

cmd_env() {
    # SLURM_CONF for the client commands, and $STATE/bin (srun for jobstep jobs) on PATH
    echo "export SLURM_CONF=$SLURM_CONF_FILE"
    case ":$PATH:" in
        *":$STATE/bin:"*) ;;
        *) echo "export PATH=$STATE/bin:\$PATH" ;;
    esac
}

main() {
    local cmd=${1:-}
    case $cmd in
        install | start | stop | status | env) ;;
        *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
    esac
    local t0
    t0=$(now)
    "cmd_$cmd"
    case $cmd in
        install | start | stop) log "$cmd took $(elapsed "$t0") s" ;;
    esac
}

main "$@"
