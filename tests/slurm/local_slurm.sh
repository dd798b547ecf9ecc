#!/usr/bin/env bash
# A real single-node SLURM cluster for the tests: munge, MariaDB + slurmdbd (accounting, so sacct
# works), slurmctld and slurmd with fake GPUs, partitions `cpu` (default) and `gpu`.
#
#   tests/slurm/local_slurm.sh start    # install missing Debian packages, start, wait until ready
#   tests/slurm/local_slurm.sh stop     # cancel queued jobs, stop only the daemons this script started
#   tests/slurm/local_slurm.sh status   # exit 0 when every daemon is up and the node is usable
#   tests/slurm/local_slurm.sh env      # prints `export SLURM_CONF=...` for clients
#
# Everything lives under $LOCAL_SLURM_HOME (default /var/lib/slurm-local): config (etc/), state,
# logs (log/), pid files (pids/), fake GPU devices, the MariaDB datadir. Clients find the config
# through a symlink /etc/slurm/slurm.conf that exists only while the cluster runs (the job steps
# of the Snakemake SLURM plugin drop SLURM_CONF from srun's environment, so it must be at the
# default place); `stop` removes it, so that with the controller down `scontrol` fails at once
# instead of making every `snakemake` command wait ~10 s (the plugin runs `scontrol show config`
# at import). An /etc/slurm/slurm.conf that this script did not create is never replaced.
# Ports are off the SLURM defaults.
# Needs root (apt-get, munge, slurmd). Idempotent: a running cluster is left as is, a changed
# config restarts this script's daemons.
#
# Knobs (environment): LOCAL_SLURM_HOME, LOCAL_SLURM_GPUS (2), LOCAL_SLURM_ACCOUNT (testacct),
# LOCAL_SLURM_USERS (root and $SUDO_USER), LOCAL_SLURM_INSTALL (1: apt-get missing packages),
# LOCAL_SLURM_TIMEOUT (60 s per wait), LOCAL_SLURM_PORT_BASE (16817: ctld, +1 slurmd, +2 dbd),
# LOCAL_SLURM_DB_PORT (13307), LOCAL_SLURM_MIN_JOB_AGE (300).
set -euo pipefail

H=${LOCAL_SLURM_HOME:-/var/lib/slurm-local}
GPUS=${LOCAL_SLURM_GPUS:-2}
ACCOUNT=${LOCAL_SLURM_ACCOUNT:-testacct}
USERS=${LOCAL_SLURM_USERS:-root ${SUDO_USER:-}}
INSTALL=${LOCAL_SLURM_INSTALL:-1}
TIMEOUT=${LOCAL_SLURM_TIMEOUT:-60}
PORT_BASE=${LOCAL_SLURM_PORT_BASE:-16817}
DB_PORT=${LOCAL_SLURM_DB_PORT:-13307}
MIN_JOB_AGE=${LOCAL_SLURM_MIN_JOB_AGE:-300}
NODE=localhost
CLUSTER=mammoflow
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALLER="$HERE/../../scripts/install_system_deps.sh"

export SLURM_CONF="$H/etc/slurm.conf"
SYSTEM_CONF=/etc/slurm/slurm.conf
DB_SOCK="$H/db-run/mariadbd.sock"
DB_PASS_FILE="$H/etc/db.pass"

log() { echo "local_slurm: $*" >&2; }
die() { echo "local_slurm: ERROR: $*" >&2; exit 1; }

# ---------------------------------------------------------------- pid bookkeeping
# pids/<name>.pid holds the PID of a daemon THIS script started; <name> is also the expected
# /proc/PID/comm, so a recycled PID is never signalled.
pid_of() {  # prints the live PID of our daemon $1, or nothing
  local f="$H/pids/$1.pid" pid
  [ -s "$f" ] || return 0
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] || return 0
  if [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ]; then
    # a zombie (exited, not yet reaped by its parent) counts as stopped
    [ "$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null)" = Z ] || echo "$pid"
  fi
}
alive() { [ -n "$(pid_of "$1")" ]; }

wait_for() {  # wait_for DESCRIPTION COMMAND...: retry until it succeeds or TIMEOUT
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "timed out after ${TIMEOUT}s waiting for $what; last log lines:"
      tail -n 15 "$H"/log/*.log 2>/dev/null >&2 || true
      return 1
    fi
    sleep 0.2
  done
}

record_pid() {  # record_pid NAME PIDFILE: copy a daemon's own pid file into pids/
  local deadline=$((SECONDS + TIMEOUT))
  until [ -s "$2" ]; do
    [ $SECONDS -ge $deadline ] && die "$1 wrote no pid file $2 (see $H/log/)"
    sleep 0.1
  done
  echo "$(tr -dc '0-9' <"$2")" >"$H/pids/$1.pid"
  alive "$1" || die "$1 is not running (see $H/log/$1.log)"
}

stop_daemon() {  # TERM our daemon, KILL after 20 s
  local name=$1 pid
  pid=$(pid_of "$name")
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 20))
    while [ -n "$(pid_of "$name")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if [ -n "$(pid_of "$name")" ]; then
      log "$name ($pid) ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.2
    fi
  fi
  rm -f "$H/pids/$name.pid"
}

# ---------------------------------------------------------------- configuration
node_line() {  # hardware line from slurmd -C with our node name and 85 % of the memory
  local hw mem
  hw=$(slurmd -C | head -n 1)
  mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")
  hw=$(sed -e "s/^NodeName=[^ ]*/NodeName=$NODE NodeAddr=127.0.0.1/" -e 's/ RealMemory=[0-9]*//' <<<"$hw")
  echo "$hw RealMemory=$((mem * 85 / 100)) Gres=gpu:$GPUS State=UNKNOWN"
}

write_if_changed() {  # write_if_changed FILE MODE OWNER (content on stdin); returns 0 if changed
  local new
  new=$(cat)
  if [ -f "$1" ] && [ "$(cat "$1")" = "$new" ]; then return 1; fi
  printf '%s\n' "$new" >"$1"
  chmod "$2" "$1"
  chown "$3" "$1"
  return 0
}

configure() {  # writes the config files; sets CONFIG_CHANGED=1 when any of them changed
  CONFIG_CHANGED=0
  mkdir -p "$H"/{etc,pids,log,spool/ctld,spool/d,fakegpu,db-run}
  chown slurm:slurm "$H/spool/ctld" "$H/log" "$H/pids" "$H/db-run"
  chmod 755 "$H" "$H/etc"
  local i
  for ((i = 0; i < GPUS; i++)); do  # character devices with /dev/null's numbers: valid gres files
    # (where mknod is not allowed, plain files work too: slurmd logs a complaint but counts them)
    [ -c "$H/fakegpu/nvidia$i" ] || mknod -m 666 "$H/fakegpu/nvidia$i" c 1 3 2>/dev/null || touch "$H/fakegpu/nvidia$i"
  done
  [ -s "$DB_PASS_FILE" ] || { head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$DB_PASS_FILE"; chmod 600 "$DB_PASS_FILE"; }

  write_if_changed "$H/etc/slurm.conf" 644 root:root <<EOF && CONFIG_CHANGED=1 || true
# Written by tests/slurm/local_slurm.sh: a single-node test cluster with fake GPUs.
ClusterName=$CLUSTER
SlurmctldHost=$NODE
SlurmctldPort=$PORT_BASE
SlurmdPort=$((PORT_BASE + 1))
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
ReturnToService=2
SlurmctldPidFile=$H/pids/slurmctld.pid
SlurmdPidFile=$H/pids/slurmd.pid
SlurmdSpoolDir=$H/spool/d
StateSaveLocation=$H/spool/ctld
SlurmctldLogFile=$H/log/slurmctld.log
SlurmdLogFile=$H/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MinJobAge=$MIN_JOB_AGE
KillWait=5
InactiveLimit=0
Waittime=0
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$((PORT_BASE + 2))
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
GresTypes=gpu
$(node_line)
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP DefMemPerCPU=1000
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP DefMemPerCPU=1000
EOF

  write_if_changed "$H/etc/gres.conf" 644 root:root <<EOF && CONFIG_CHANGED=1 || true
NodeName=$NODE Name=gpu File=$H/fakegpu/nvidia[0-$((GPUS - 1))]
EOF

  write_if_changed "$H/etc/slurmdbd.conf" 600 slurm:slurm <<EOF && CONFIG_CHANGED=1 || true
AuthType=auth/munge
DbdHost=localhost
DbdPort=$((PORT_BASE + 2))
SlurmUser=slurm
PidFile=$H/pids/slurmdbd.pid
LogFile=$H/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$(cat "$DB_PASS_FILE")
StorageLoc=slurm_acct_db
EOF
}

# ---------------------------------------------------------------- daemons
munge_works() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }

start_munge() {
  if munge_works; then return 0; fi  # a system munged (or ours) already answers
  [ -s /etc/munge/munge.key ] || { mungekey --create --force; chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  rm -f /run/munge/munged.pid
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --force \
    --pid-file=/run/munge/munged.pid >>"$H/log/munged.log" 2>&1
  record_pid munged /run/munge/munged.pid
  wait_for munge munge_works || die "munge does not work (see $H/log/munged.log)"
}

db_ping() { mariadb --no-defaults --socket="$DB_SOCK" -uroot -e 'SELECT 1' </dev/null; }

start_mariadb() {
  if ! alive mariadbd; then
    if [ ! -d "$H/mysql/mysql" ]; then
      rm -rf "$H/mysql"
      mariadb-install-db --no-defaults --user=slurm --datadir="$H/mysql" \
        --auth-root-authentication-method=socket --skip-test-db >>"$H/log/mariadb.log" 2>&1 \
        || die "mariadb-install-db failed (see $H/log/mariadb.log)"
    fi
    rm -f "$H/db-run/mariadbd.pid"
    setsid setpriv --reuid=slurm --regid=slurm --init-groups /usr/sbin/mariadbd --no-defaults \
      --datadir="$H/mysql" --bind-address=127.0.0.1 --skip-name-resolve --port="$DB_PORT" --socket="$DB_SOCK" \
      --pid-file="$H/db-run/mariadbd.pid" --log-error="$H/log/mariadb.log" \
      --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 --innodb-log-file-size=32M \
      </dev/null >>"$H/log/mariadb.log" 2>&1 &
    record_pid mariadbd "$H/db-run/mariadbd.pid"
  fi
  wait_for mariadb db_ping || die "MariaDB does not answer (see $H/log/mariadb.log)"
  local pass
  pass=$(cat "$DB_PASS_FILE")
  mariadb --no-defaults --socket="$DB_SOCK" -uroot <<EOF || die "could not create the slurm DB user"
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
EOF
}

start_slurmdbd() {
  if ! alive slurmdbd; then
    rm -f "$H/pids/slurmdbd.pid"
    /usr/sbin/slurmdbd >>"$H/log/slurmdbd.log" 2>&1 || die "slurmdbd failed (see $H/log/slurmdbd.log)"
    record_pid slurmdbd "$H/pids/slurmdbd.pid"
  fi
  wait_for slurmdbd sacctmgr -n list cluster || die "slurmdbd does not answer (see $H/log/slurmdbd.log)"
}

start_slurmctld() {
  if ! alive slurmctld; then
    rm -f "$H/pids/slurmctld.pid"
    /usr/sbin/slurmctld >>"$H/log/slurmctld.log" 2>&1 || die "slurmctld failed (see $H/log/slurmctld.log)"
    record_pid slurmctld "$H/pids/slurmctld.pid"
  fi
  wait_for slurmctld scontrol ping || die "slurmctld does not answer (see $H/log/slurmctld.log)"
}

start_slurmd() {
  if ! alive slurmd; then
    rm -f "$H/pids/slurmd.pid"
    /usr/sbin/slurmd -N "$NODE" >>"$H/log/slurmd.log" 2>&1 || die "slurmd failed (see $H/log/slurmd.log)"
    record_pid slurmd "$H/pids/slurmd.pid"
  fi
}

node_state() { sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null | head -n 1; }
node_usable() { case "$(node_state)" in idle*|mixed*|allocated*|completing*) return 0 ;; *) return 1 ;; esac; }

wait_node() {
  local deadline=$((SECONDS + TIMEOUT)) state
  until node_usable; do
    state=$(node_state)
    case "$state" in
      drain*|down*|fail*|inval*)  # state saved from an earlier bad registration
        scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      scontrol show node "$NODE" >&2 || true
      tail -n 15 "$H/log/slurmd.log" "$H/log/slurmctld.log" >&2 || true
      die "node $NODE is '$state', not usable"
    fi
    sleep 0.3
  done
}

ensure_associations() {
  local u
  sacctmgr -n list account "$ACCOUNT" format=account%64 | grep -qw "$ACCOUNT" ||
    sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="mammoflow tests" Organization=mammoflow >/dev/null
  for u in $USERS; do
    id "$u" >/dev/null 2>&1 || continue
    sacctmgr -n list assoc user="$u" account="$ACCOUNT" format=user%64 | grep -qw "$u" ||
      sacctmgr -i add user "$u" Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null
  done
  sacctmgr -n list assoc user=root account="$ACCOUNT" format=user%64 | grep -qw root ||
    die "association root/$ACCOUNT missing"
}

# ---------------------------------------------------------------- commands
require_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (installs packages, starts munge and slurmd)"
}

link_config() {  # /etc/slurm/slurm.conf -> our config, for clients without SLURM_CONF
  if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; then return 0; fi
  if [ -e "$SYSTEM_CONF" ] || [ -L "$SYSTEM_CONF" ]; then
    die "$SYSTEM_CONF exists and was not created by this script (a real SLURM installation?); not replacing it"
  fi
  mkdir -p "$(dirname "$SYSTEM_CONF")"
  ln -s "$SLURM_CONF" "$SYSTEM_CONF"
}

unlink_config() {
  if [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; then rm -f "$SYSTEM_CONF"; fi
}

cmd_start() {
  require_root
  local t0=$SECONDS
  if [ "$INSTALL" = 1 ]; then
    bash "$INSTALLER" slurm || die "could not install the SLURM packages"
  fi
  for b in slurmctld slurmd slurmdbd munged mariadbd mariadb mariadb-install-db sbatch sacct sacctmgr; do
    command -v "$b" >/dev/null || [ -x "/usr/sbin/$b" ] || die "$b not found (install: scripts/install_system_deps.sh slurm)"
  done
  if [ -e "$SYSTEM_CONF" ] && ! { [ -L "$SYSTEM_CONF" ] && [ "$(readlink "$SYSTEM_CONF")" = "$SLURM_CONF" ]; }; then
    die "$SYSTEM_CONF exists and was not created by this script (a real SLURM installation?); not replacing it"
  fi
  configure
  if [ "$CONFIG_CHANGED" = 1 ] && { alive slurmctld || alive slurmd || alive slurmdbd; }; then
    log "configuration changed: restarting the cluster"
    stop_slurm_daemons
  fi
  start_munge
  start_mariadb
  start_slurmdbd
  start_slurmctld
  start_slurmd
  wait_node
  ensure_associations
  link_config
  log "cluster up in $((SECONDS - t0)) s (SLURM_CONF=$SLURM_CONF)"
}

cancel_jobs() {
  local ids
  ids=$(squeue -h -o %i 2>/dev/null || true)
  [ -n "$ids" ] || return 0
  log "cancelling jobs: $(echo $ids)"
  # shellcheck disable=SC2086
  scancel $ids 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while [ -n "$(squeue -h -o %i 2>/dev/null || true)" ] && [ $SECONDS -lt $deadline ]; do sleep 0.3; done
}

stop_slurm_daemons() {
  if alive slurmctld; then cancel_jobs; fi
  stop_daemon slurmd
  stop_daemon slurmctld
  stop_daemon slurmdbd
}

cmd_stop() {
  require_root
  [ -d "$H/pids" ] || { log "nothing to stop"; return 0; }
  stop_slurm_daemons
  stop_daemon mariadbd
  stop_daemon munged
  unlink_config
  log "stopped"
}

cmd_status() {
  local ok=0 d
  for d in munged mariadbd slurmdbd slurmctld slurmd; do
    if alive "$d"; then echo "$d: running (pid $(pid_of "$d"))"
    elif [ "$d" = munged ] && munge_works; then echo "munged: running (not started by this script)"
    else echo "$d: stopped"; ok=1
    fi
  done
  if [ $ok = 0 ]; then
    echo "node $NODE: $(node_state)"
    sinfo -o '%P %a %D %T %G' 2>/dev/null || true
    node_usable || ok=1
  fi
  return $ok
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$SLURM_CONF" ;;
  *) sed -n '2,9p' "$0" >&2; exit 2 ;;
esac
