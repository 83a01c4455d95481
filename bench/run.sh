#!/usr/bin/env bash
# bench/run.sh: issue 6's scenarios, chatrelay against RabbitMQ Web-STOMP on
# the same work, side by side in one run on the same RabbitMQ.
#
#   (a) many small rooms: A_CLIENTS clients in A_ROOMS rooms
#   (b) one big room: B_CLIENTS members, B_RATES msgs/s in (a sweep on the
#       same connections; the first rate is the scenario's 20/s), plus the
#       no-broker baseline (chatbench -serve-baseline, its own process)
#   (c) idle connections: C_CLIENTS clients holding subscriptions for C_HOLD;
#       memory per connection and broker connections/queues/consumers
#   (j) joins: J_CLIENTS clients join one room with presence messages on
#       (the replica's defaults); chatbench reports the deliveries the
#       joins caused (ENTER announcements) by the end of J_SETTLE.
#       Not in the default SCENARIOS; CHATRELAY_BIN=path runs another
#       build of the server (e.g. an older commit's, for a before/after).
#   (e) join storm (issue 17 item 5): one room seeded with 2×E_HISTORY
#       messages, E_CLIENTS clients connected (not measured), then all
#       SUBSCRIBE with x-history: E_HISTORY and a receipt, evenly over
#       E_WINDOW; per client SUBSCRIBE → RECEIPT and → its E_HISTORY-th
#       message, and whether it got exactly the last E_HISTORY messages
#       (OK: all did, both p99 <= E_P99). chatrelay only: Web-STOMP has no
#       x-history. Presence messages stay off (an ENTER would be history
#       too). Not in the default SCENARIOS.
#   (d) rooms at scale (issue 17's acceptance d): D_ROOMS rooms created
#       through chatrelay's REST API (each creation timed; p99 bound
#       D_CREATE_P99), D_HISTORY_MESSAGES pushed into the
#       D_HISTORY_FRACTION of them; RabbitMQ's memory (management mem_used
#       and, on a private node, rabbitmqctl status's Erlang memory after a
#       GC), processes and file descriptors read before the first room and
#       at D_CHECKPOINTS, with the growth per room; then D_CLIENTS members
#       in D_ACTIVE of the rooms and D_RATES msgs/s in them (warm-up,
#       duration and drain as (a)), and the broker read once more.
#       chatrelay only. Not in the default SCENARIOS. Archiving (the
#       server snapshots a room idle for rooms.archive.idle_after into the
#       registry and deletes its stream): D_ARCHIVE_AFTER (a Go duration
#       like 5s; empty: the server's default, 0: off) is the replicas'
#       CHATRELAY_ROOMS_ARCHIVE_IDLE_AFTER; D_ARCHIVE_WAIT (default 0: no
#       wait) is chatbench's -archive-wait: at each checkpoint, before the
#       broker is read, it waits up to that long for the room streams
#       (queues room.*, counted through the management API) to be down to
#       D_ARCHIVE_MAX_STREAMS (default D_ACTIVE+50) and reports the count,
#       the wait and whether the bound was met (NOT met: the run is NOT
#       OK). SMOKE=1 has no RabbitMQ: no wait. On a private node
#       (BENCH_PRIVATE_RABBIT=1) the rooms are kept (-keep-rooms: the node
#       goes at the end, and deleting 100,000 streams takes long);
#       elsewhere chatbench deletes them.
#   (r) read positions and typing at realistic rates: R_CLIENTS members in
#       R_ROOMS rooms, R_RATES msgs/s in (all rooms together; a sweep on
#       the same connections, every step run), twice, each on fresh
#       replicas: r-plain, public rooms as in (a) and (b), then r-reads
#       (chatbench -reads): the rooms private with every client of a room
#       a member, every member following the room's reads and typing
#       topics and reading every message within 2 s (one read SEND per
#       pending batch), R_TYPING_FRACTION of each room's members typing
#       (a signal every ~1 s) through each measured step. Both report
#       each step's delivered msgs/s, latency and the replicas' and
#       RabbitMQ's CPU; r-reads adds the read and typing SENDs and events
#       per second, and is NOT OK unless every member saw its last read
#       come back on its room's reads topic. chatrelay only. Not in the
#       default SCENARIOS.
#
# Each scenario runs chatrelay (replicas started here, fresh per scenario,
# CHATRELAY_BROKER_MODE=rabbitmq) and then Web-STOMP direct against the same
# RabbitMQ. Results: bench/results/<UTC time>/ (OUT=...): one JSON report and
# one text table per run, results.md (markdown tables) and results.json.
# The replicas log at warn level to chatrelay-<scenario>-<n>.log in OUT
# (BENCH_LOG_LEVEL=info or debug for more).
#
# RabbitMQ: given by RABBIT_HOST, RABBIT_STOMP_PORT (61613), RABBIT_AMQP_PORT
# (5672), RABBIT_WEBSTOMP_PORT (15674), RABBIT_MGMT_PORT (15672),
# RABBIT_USER/RABBIT_PASS (guest/guest) and RABBIT_PID (its beam pid, for
# memory; found through ss when unset). BENCH_PRIVATE_RABBIT=1 instead
# starts a private node (go run ./bench/rabbitnode: own ports, data and
# cookie; nothing system-wide changes) and stops it at the end.
#
# SCALE=small runs every scenario at <= 200 clients for a few seconds; the
# default is the issue's full size. Every size, rate and time below can be
# overridden from the environment.
#
# SMOKE=1 is CI's smoke test (internal/bench's TestRunScriptSmoke): every
# scenario (a b c d e j r by default) at about 20 clients for a second or
# two against chatrelay with its embedded broker, no RabbitMQ at all (no
# Web-STOMP runs, no broker figures), one replica; the script exits 1 when
# any chatbench run failed or reported NOT OK.
#
# Limits: every process needs one descriptor per connection. This script
# raises its own soft RLIMIT_NOFILE to the hard limit (and, when the hard
# limit is below C_CLIENTS+1000, tries to raise the hard limit too, which
# only a process with CAP_SYS_RESOURCE may do); chatbench, the replicas and
# a private RabbitMQ inherit it. Nothing system-wide changes: when the hard
# limit stays too low the script says so and runs anyway (the surplus
# clients fail to connect and the report says how many); raise it for the
# shell that runs the script (root: ulimit -Hn N; a container: its nofile
# ulimit; systemd: LimitNOFILE). A RabbitMQ started elsewhere needs its own
# limit of at least C_CLIENTS+1000.
#
# Scenario (c) at scale: one client source address reaches one server
# address from at most the ports of net.ipv4.ip_local_port_range (about
# 28,000). When C_CLIENTS > 20000 the clients dial from C_SOURCE_ADDRS,
# by default one loopback address per 20,000 clients (127.0.0.2, 127.0.0.3,
# ...; Linux routes all of 127.0.0.0/8 to lo, nothing to set up; Web-STOMP
# gets them too when RABBIT_HOST is a 127.x address). C_CONNECT_RATE
# (default CONNECT_RATE) paces its connections. Before scenario (c) the
# script checks the port range, net.core.somaxconn,
# net.ipv4.tcp_max_syn_backlog, fs.nr_open, fs.file-max, the conntrack
# table and, once started, the replicas' own open-file limits, and prints
# what would cap the run. It changes sysctls only when asked with
# BENCH_TUNE_SYSCTL=1 and running as root (port range 1024-65535,
# somaxconn and tcp_max_syn_backlog 65535, nf_conntrack_max >= 4 x
# C_CLIENTS): those are system-wide, and stay after the run.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/bench/results/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
BIN=$OUT/bin
mkdir -p "$BIN"

SMOKE=${SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
	: "${A_CLIENTS:=20}" "${A_ROOMS:=2}" "${A_RATES:=20}"
	: "${B_CLIENTS:=20}" "${B_RATES:=20}"
	: "${C_CLIENTS:=20}" "${C_ROOMS:=2}" "${C_HOLD:=1s}"
	: "${J_CLIENTS:=10}" "${J_SETTLE:=1s}"
	: "${E_CLIENTS:=20}" "${E_HISTORY:=5}" "${E_WINDOW:=200ms}"
	: "${D_ROOMS:=60}" "${D_CHECKPOINTS:=20,60}" "${D_ACTIVE:=4}" "${D_CLIENTS:=8}" "${D_RATES:=20}" "${D_CREATE_P99:=10s}"
	: "${R_CLIENTS:=20}" "${R_ROOMS:=2}" "${R_RATES:=20}"
	: "${DURATION:=1s}" "${WARMUP:=200ms}" "${DRAIN:=5s}" "${SETTLE:=200ms}"
	: "${SCENARIOS:=a b c d e j r}"
	REPLICAS=1
elif [ "${SCALE:-full}" = small ]; then
	: "${A_CLIENTS:=100}" "${A_ROOMS:=10}" "${A_RATES:=100}"
	: "${B_CLIENTS:=200}" "${B_RATES:=20,50}"
	: "${C_CLIENTS:=200}" "${C_ROOMS:=20}" "${C_HOLD:=3s}"
	: "${E_CLIENTS:=200}" "${E_HISTORY:=20}"
	: "${D_ROOMS:=1000}" "${D_CHECKPOINTS:=100,1000}" "${D_ACTIVE:=50}" "${D_CLIENTS:=100}" "${D_RATES:=50}"
	: "${R_CLIENTS:=200}" "${R_ROOMS:=4}" "${R_RATES:=20,40}"
	: "${DURATION:=3s}" "${WARMUP:=1s}" "${SETTLE:=2s}"
fi
: "${A_CLIENTS:=1000}" "${A_ROOMS:=100}" "${A_RATES:=100,200,500}"
: "${B_CLIENTS:=2000}" "${B_RATES:=20,50,100,200,400,800}"
: "${C_CLIENTS:=10000}" "${C_ROOMS:=100}" "${C_HOLD:=30s}" "${C_HEARTBEAT:=20s}"
: "${J_CLIENTS:=2000}" "${J_SETTLE:=30s}"
: "${E_CLIENTS:=2000}" "${E_HISTORY:=50}" "${E_WINDOW:=1s}" "${E_P99:=2s}"
# (d): rooms created, the broker read at each checkpoint (the last one is
# D_ROOMS whatever the list says), the history rooms and their messages,
# creations in flight, the active rooms, their members and rates
: "${D_ROOMS:=100000}" "${D_CHECKPOINTS:=1000,10000,100000}"
: "${D_HISTORY_FRACTION:=0.5}" "${D_HISTORY_MESSAGES:=3}" "${D_CREATE_CONCURRENCY:=8}" "${D_CREATE_P99:=5ms}"
# (d): D_CREATE_RATE > 0 starts the creations at that many per second
# (open loop; D_CREATE_CONCURRENCY then only bounds those in flight, and
# each is timed from when it was due): creation latency at a known load,
# not at the saturation 8 closed loops reach
: "${D_CREATE_RATE:=0}"
: "${D_ACTIVE:=2000}" "${D_CLIENTS:=4000}" "${D_RATES:=100,200}"
# (d) with archiving: the replicas' rooms.archive.idle_after (empty: the
# server's default), chatbench's wait per checkpoint for the room streams
# to be down to D_ARCHIVE_MAX_STREAMS (empty: D_ACTIVE+50)
: "${D_ARCHIVE_AFTER:=}" "${D_ARCHIVE_WAIT:=0}" "${D_ARCHIVE_MAX_STREAMS:=}"
# (r): members, rooms, aggregate rates (1,000 in 10 rooms: 100-member
# rooms at 5, 10 and 20 msgs/s each) and the fraction of members typing
: "${R_CLIENTS:=1000}" "${R_ROOMS:=10}" "${R_RATES:=50,100,200}" "${R_TYPING_FRACTION:=0.1}"
# (a) and (b) clients heart-beat as @stomp/stompjs does by default (10 s
# both ways), so that no server drops a receive-only client as idle
: "${HEARTBEAT:=10s}"
: "${DURATION:=30s}" "${WARMUP:=5s}" "${DRAIN:=10s}" "${SETTLE:=10s}"
# the replicas' http.api_key, which chatbench (-api-key's default) uses to
# create and delete the run's rooms: without it the rooms.create.* limits
# refuse scenario (a)'s hundred rooms from one address, and a room may be
# deleted by its owner or the API key only
if [ -z "${CHATRELAY_HTTP_API_KEY:-}" ]; then
	CHATRELAY_HTTP_API_KEY=bench-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
fi
export CHATRELAY_HTTP_API_KEY
: "${CONNECT_RATE:=500}" "${MAX_MESSAGES:=2000000}" "${SIZE:=100}"
: "${C_CONNECT_RATE:=$CONNECT_RATE}"
: "${REPLICAS:=1}" "${BASE_PORT:=18080}" "${BASELINE_PORT:=18999}"
: "${SCENARIOS:=a b c}"
: "${RABBIT_HOST:=127.0.0.1}" "${RABBIT_USER:=guest}" "${RABBIT_PASS:=guest}"

log() { printf '%s run.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "$*"; exit 1; }

# --- limits ---------------------------------------------------------------
need=$(( (C_CLIENTS > E_CLIENTS ? C_CLIENTS : E_CLIENTS) + 1000))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$need" ]; then
	# this process's own hard limit: allowed only with CAP_SYS_RESOURCE
	ulimit -Hn "$need" 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
	log "warning: open-file limit $(ulimit -n) (hard $(ulimit -Hn)) < $need needed for $C_CLIENTS clients, and this process may not raise its hard limit: chatbench and each replica can hold about $(($(ulimit -n) - 100)) connections, the rest will fail to connect; raise the hard limit of the shell running this script (root with CAP_SYS_RESOURCE: ulimit -Hn $need; a container: its nofile ulimit; systemd: LimitNOFILE)"
fi

# sysctl_get NAME: a sysctl's value (fields joined by one space), or empty.
sysctl_get() { tr -s ' \t' ' ' <"/proc/sys/${1//.//}" 2>/dev/null || true; }

# Scenario (c)'s source addresses: one loopback address per 20,000 clients
# when C_CLIENTS > 20000 (see the header).
if [ -z "${C_SOURCE_ADDRS:-}" ] && [ "$C_CLIENTS" -gt 20000 ]; then
	n=$(((C_CLIENTS + 19999) / 20000))
	[ "$n" -le 250 ] || die "C_CLIENTS=$C_CLIENTS needs more than 250 source addresses; set C_SOURCE_ADDRS"
	C_SOURCE_ADDRS=127.0.0.2-127.0.0.$((n + 1))
fi
: "${C_SOURCE_ADDRS:=}"

# check_scale_c: warnings for whatever would cap scenario (c), and with
# BENCH_TUNE_SYSCTL=1 as root the sysctl changes the header lists.
check_scale_c() {
	local addrs=1 lo hi ports per v
	if [ "${BENCH_TUNE_SYSCTL:-0}" = 1 ]; then
		if [ "$(id -u)" = 0 ]; then
			log "BENCH_TUNE_SYSCTL=1: raising system-wide sysctls (they stay after the run)"
			sysctl -qw net.ipv4.ip_local_port_range="1024 65535" || log "warning: could not set net.ipv4.ip_local_port_range"
			sysctl -qw net.core.somaxconn=65535 || log "warning: could not set net.core.somaxconn"
			sysctl -qw net.ipv4.tcp_max_syn_backlog=65535 || log "warning: could not set net.ipv4.tcp_max_syn_backlog"
			v=$(sysctl_get net.netfilter.nf_conntrack_max)
			if [ -n "$v" ] && [ "$v" -lt $((4 * C_CLIENTS)) ]; then
				sysctl -qw net.netfilter.nf_conntrack_max=$((4 * C_CLIENTS)) || log "warning: could not set net.netfilter.nf_conntrack_max"
			fi
		else
			log "warning: BENCH_TUNE_SYSCTL=1 ignored: not running as root"
		fi
	fi
	if [ -n "$C_SOURCE_ADDRS" ]; then
		addrs=$("$BIN/chatbench" -source-addrs "$C_SOURCE_ADDRS" -print-source-addrs | tr ',' '\n' | grep -c .) ||
			die "C_SOURCE_ADDRS=$C_SOURCE_ADDRS: not a source address list"
	fi
	read -r lo hi <<<"$(sysctl_get net.ipv4.ip_local_port_range)"
	if [ -n "${lo:-}" ]; then
		ports=$((hi - lo + 1)) per=$(((C_CLIENTS + addrs - 1) / addrs))
		# each replica is its own destination; the busiest source address
		# reaches one replica with per/REPLICAS connections at the most
		if [ $(((per + REPLICAS - 1) / REPLICAS)) -gt $((ports * 9 / 10)) ]; then
			log "warning: ip_local_port_range $lo-$hi gives $ports ports per source address and server; $per clients per source address (${C_SOURCE_ADDRS:-kernel-chosen}) over $REPLICAS replica(s) will run out: set C_SOURCE_ADDRS to more addresses"
		fi
	fi
	v=$(sysctl_get net.core.somaxconn)
	[ -z "$v" ] || [ "$v" -ge 1024 ] || log "warning: net.core.somaxconn=$v caps each listener's accept queue: connecting at $C_CONNECT_RATE/s may see refused or retried SYNs"
	v=$(sysctl_get net.ipv4.tcp_max_syn_backlog)
	[ -z "$v" ] || [ "$v" -ge 1024 ] || log "warning: net.ipv4.tcp_max_syn_backlog=$v: connecting at $C_CONNECT_RATE/s may see dropped SYNs"
	v=$(sysctl_get fs.nr_open)
	[ -z "$v" ] || [ "$v" -ge "$need" ] || log "warning: fs.nr_open=$v caps every process's open files below $need"
	v=$(sysctl_get fs.file-max)
	[ -z "$v" ] || [ "$v" -ge $((2 * C_CLIENTS + 10000)) ] || log "warning: fs.file-max=$v < $((2 * C_CLIENTS + 10000)) (both ends of every connection on this machine)"
	v=$(sysctl_get net.netfilter.nf_conntrack_max)
	[ -z "$v" ] || [ "$v" -ge $((2 * C_CLIENTS)) ] || log "warning: net.netfilter.nf_conntrack_max=$v: the conntrack table tracks loopback connections too and drops new ones when full"
	log "scenario c: $C_CLIENTS clients from ${C_SOURCE_ADDRS:-kernel-chosen source addresses} ($addrs), $C_CONNECT_RATE connects/s; open files $(ulimit -n) (hard $(ulimit -Hn)); port range ${lo:-?}-${hi:-?}; somaxconn $(sysctl_get net.core.somaxconn)"
}

# check_replica_files: warn when a replica's own open-file limit is below
# its share of scenario (c)'s clients.
check_replica_files() {
	local p soft share=$(((C_CLIENTS + REPLICAS - 1) / REPLICAS + 1000))
	for p in "${REPLICA_PIDS[@]}"; do
		soft=$(awk '/^Max open files/{print $4}' "/proc/$p/limits" 2>/dev/null || true)
		if [ -n "$soft" ] && [ "$soft" != unlimited ] && [ "$soft" -lt "$share" ]; then
			log "warning: replica pid $p may open $soft files, fewer than the $share its share of $C_CLIENTS clients needs"
		fi
	done
}

# --- processes this script owns, stopped at exit --------------------------
REPLICA_PIDS=()
BASELINE_PID=
RABBITNODE_PID=

# stop_pid PID NAME: SIGTERM, then up to 20 s, then SIGKILL; only our own.
stop_pid() {
	local pid=$1 name=$2 i
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "$name (pid $pid) ignored SIGTERM for 20 s: SIGKILL"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_replicas() {
	local p
	for p in "${REPLICA_PIDS[@]}"; do stop_pid "$p" chatrelay; done
	REPLICA_PIDS=()
}

cleanup() {
	stop_replicas
	[ -n "$BASELINE_PID" ] && stop_pid "$BASELINE_PID" baseline
	[ -n "$RABBITNODE_PID" ] && stop_pid "$RABBITNODE_PID" rabbitnode
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- build ----------------------------------------------------------------
log "building into $BIN"
if [ -n "${CHATRELAY_BIN:-}" ]; then
	cp "$CHATRELAY_BIN" "$BIN/chatrelay"
else
	go build -o "$BIN/chatrelay" ./cmd/chatrelay
fi
go build -o "$BIN/chatbench" ./cmd/chatbench
if [ "${BENCH_PRIVATE_RABBIT:-0}" = 1 ] && [ "$SMOKE" != 1 ]; then
	go build -o "$BIN/rabbitnode" ./bench/rabbitnode
fi

# --- RabbitMQ -------------------------------------------------------------
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ "$SMOKE" = 1 ]; then
	BROKER_MODE=embedded MGMT= RABBIT_PID= RABBIT_CTL=
	log "SMOKE=1: chatrelay with its embedded broker, no RabbitMQ (no Web-STOMP runs, no broker figures)"
	if [ "$D_ARCHIVE_WAIT" != 0 ] || [ -n "$D_ARCHIVE_MAX_STREAMS" ]; then
		log "SMOKE=1: no room streams to count: D_ARCHIVE_WAIT=$D_ARCHIVE_WAIT and D_ARCHIVE_MAX_STREAMS=$D_ARCHIVE_MAX_STREAMS ignored"
		D_ARCHIVE_WAIT=0 D_ARCHIVE_MAX_STREAMS=
	fi
else
	BROKER_MODE=rabbitmq
	if [ "${BENCH_PRIVATE_RABBIT:-0}" = 1 ]; then
		envfile=$OUT/rabbit.env
		rm -f "$envfile"
		# the repository's Raft settings (rabbitmq/rabbitmq.conf): what a
		# node run as the README says has
		grep '^raft\.' rabbitmq/rabbitmq.conf >"$OUT/rabbit-extra.conf" || true
		"$BIN/rabbitnode" -env "$envfile" -config "$OUT/rabbit-extra.conf" >"$OUT/rabbitnode.log" 2>&1 &
		RABBITNODE_PID=$!
		for ((i = 0; i < 240; i++)); do
			[ -s "$envfile" ] && break
			kill -0 "$RABBITNODE_PID" 2>/dev/null || die "private RabbitMQ did not start: $(tail -20 "$OUT/rabbitnode.log")"
			sleep 0.5
		done
		[ -s "$envfile" ] || die "private RabbitMQ not up after 120 s"
		# shellcheck disable=SC1090
		. "$envfile"
		log "private RabbitMQ $RABBIT_NODE: stomp $RABBIT_STOMP_PORT, web-stomp $RABBIT_WEBSTOMP_PORT, amqp $RABBIT_AMQP_PORT, mgmt $RABBIT_MGMT_PORT"
	fi
	: "${RABBIT_STOMP_PORT:=61613}" "${RABBIT_AMQP_PORT:=5672}" "${RABBIT_WEBSTOMP_PORT:=15674}" "${RABBIT_MGMT_PORT:=15672}"
	MGMT=http://$RABBIT_HOST:$RABBIT_MGMT_PORT

	for p in "$RABBIT_STOMP_PORT" "$RABBIT_AMQP_PORT" "$RABBIT_WEBSTOMP_PORT" "$RABBIT_MGMT_PORT"; do
		port_open "$RABBIT_HOST" "$p" || die "nothing listens on $RABBIT_HOST:$p (STOMP $RABBIT_STOMP_PORT, AMQP $RABBIT_AMQP_PORT, Web-STOMP $RABBIT_WEBSTOMP_PORT, management $RABBIT_MGMT_PORT); set RABBIT_* or BENCH_PRIVATE_RABBIT=1"
	done
	curl -fsS -u "$RABBIT_USER:$RABBIT_PASS" "$MGMT/api/overview" >"$OUT/rabbit-overview.json" ||
		die "management API at $MGMT refused $RABBIT_USER"
	if [ -z "${RABBIT_PID:-}" ]; then
		RABBIT_PID=$(ss -ltnpH "sport = :$RABBIT_WEBSTOMP_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
	fi
	[ -n "${RABBIT_PID:-}" ] || log "warning: RabbitMQ's pid unknown (set RABBIT_PID): no broker memory figures"
fi
: "${RABBIT_CTL:=}" "${RABBIT_STOMP_PORT:=61613}" "${RABBIT_AMQP_PORT:=5672}" "${RABBIT_WEBSTOMP_PORT:=15674}"
WEBSTOMP_URL=ws://$RABBIT_HOST:$RABBIT_WEBSTOMP_PORT/ws

d_wait="no archive wait"
[ "$D_ARCHIVE_WAIT" = 0 ] || d_wait="archive wait per checkpoint <= $D_ARCHIVE_WAIT for <= ${D_ARCHIVE_MAX_STREAMS:-$((D_ACTIVE + 50))} room streams"
{
	echo "date: $(date -u +%FT%TZ)"
	echo "host: $(uname -srm), $(nproc) cpus, $(free -m | awk '/Mem:/{print $2}') MiB"
	echo "go: $(go version)"
	if [ "$SMOKE" = 1 ]; then
		echo "broker: chatrelay's embedded broker (SMOKE=1)"
	else
		echo "rabbitmq: $(grep -o '"rabbitmq_version":"[^"]*"' "$OUT/rabbit-overview.json" || true), pid ${RABBIT_PID:-?}"
	fi
	echo "replicas: $REPLICAS; open files: $(ulimit -n)"
	echo "A: $A_CLIENTS clients, $A_ROOMS rooms, rates $A_RATES"
	echo "B: $B_CLIENTS clients, 1 room, rates $B_RATES"
	echo "C: $C_CLIENTS clients, $C_ROOMS rooms, hold $C_HOLD, heart-beat $C_HEARTBEAT, connect rate $C_CONNECT_RATE/s, source addresses ${C_SOURCE_ADDRS:-kernel-chosen}"
	echo "J: $J_CLIENTS clients joining 1 room, presence messages on, settle $J_SETTLE"
	echo "D: $D_ROOMS rooms created $D_CREATE_CONCURRENCY at a time$([ "$D_CREATE_RATE" = 0 ] || echo ", paced at $D_CREATE_RATE/s") (create p99 bound $D_CREATE_P99), $D_HISTORY_MESSAGES messages in a fraction $D_HISTORY_FRACTION of them, broker read at $D_CHECKPOINTS; $D_CLIENTS clients in $D_ACTIVE active rooms, rates $D_RATES; archive after ${D_ARCHIVE_AFTER:-(server default)}, $d_wait"
	echo "R: $R_CLIENTS clients in $R_ROOMS rooms, rates $R_RATES, plain and with reads (every member within 2 s) and typing ($R_TYPING_FRACTION of the members)"
	echo "E: $E_CLIENTS clients SUBSCRIBE to 1 room with x-history $E_HISTORY within $E_WINDOW, p99 bound $E_P99"
	echo "each step: warm-up $WARMUP, measured $DURATION, drain <= $DRAIN; connect rate $CONNECT_RATE/s; (a), (b) heart-beat $HEARTBEAT"
} >"$OUT/env.txt"

# --- chatrelay replicas ---------------------------------------------------
# start_replicas SCENARIO: REPLICAS fresh replicas on BASE_PORT..; sets
# REPLICA_PIDS, RELAY_URLS and RELAY_PIDS. ARCHIVE_IDLE_AFTER, when set,
# is their rooms.archive.idle_after.
start_replicas() {
	local sc=$1 i port pid ok renv=()
	[ -z "${ARCHIVE_IDLE_AFTER:-}" ] || renv=(CHATRELAY_ROOMS_ARCHIVE_IDLE_AFTER="$ARCHIVE_IDLE_AFTER")
	RELAY_URLS= RELAY_PIDS=
	for ((i = 0; i < REPLICAS; i++)); do
		port=$((BASE_PORT + i))
		port_open 127.0.0.1 "$port" && die "port $port is taken (set BASE_PORT)"
		CHATRELAY_HTTP_ADDR=127.0.0.1:$port \
			CHATRELAY_BROKER_MODE=$BROKER_MODE \
			CHATRELAY_BROKER_ADDRESSES=$RABBIT_HOST:$RABBIT_STOMP_PORT \
			CHATRELAY_BROKER_AMQP_ADDRESSES=$RABBIT_HOST:$RABBIT_AMQP_PORT \
			CHATRELAY_BROKER_LOGIN=$RABBIT_USER CHATRELAY_BROKER_PASSCODE=$RABBIT_PASS \
			CHATRELAY_LIMITS_MAX_CONNECTIONS=$((C_CLIENTS + A_CLIENTS + B_CLIENTS + E_CLIENTS + R_CLIENTS)) \
			CHATRELAY_LIMITS_MAX_CONNECTIONS_PER_ADDRESS=$((C_CLIENTS + A_CLIENTS + B_CLIENTS + E_CLIENTS + R_CLIENTS)) \
			CHATRELAY_LIMITS_SEND_RATE=0 \
			CHATRELAY_ROOMS_CREATE_MAX_ROOMS=$((D_ROOMS + 1000)) \
			CHATRELAY_ROOMS_PRESENCE_MESSAGES=${PRESENCE_MESSAGES:-false} \
			CHATRELAY_LOGGING_LEVEL=${BENCH_LOG_LEVEL:-warn} \
			env "${renv[@]}" "$BIN/chatrelay" >"$OUT/chatrelay-$sc-$i.log" 2>&1 &
		pid=$!
		REPLICA_PIDS+=("$pid")
		ok=
		for ((j = 0; j < 120; j++)); do
			if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ok=1; break; fi
			kill -0 "$pid" 2>/dev/null || die "chatrelay replica $i exited: $(tail -20 "$OUT/chatrelay-$sc-$i.log")"
			sleep 0.5
		done
		[ -n "$ok" ] || die "chatrelay replica $i not ready after 60 s"
		READY_AT=$(date +%s.%N) # when the last replica answered /readyz (d_replay)
		RELAY_URLS+=${RELAY_URLS:+,}ws://127.0.0.1:$port/ws
		RELAY_PIDS+=${RELAY_PIDS:+,}$pid
	done
	# the management API reports connections a moment late; a run's
	# "before" counts must already hold the replicas' own connections
	for ((j = 0; j < 60; j++)); do
		[ -n "$MGMT" ] || break
		[ "$(totals connections)" -ge $((IDLE_CONNS + 2 * REPLICAS)) ] 2>/dev/null && break
		sleep 0.5
	done
	log "scenario $sc: $REPLICAS chatrelay replica(s) ready: $RELAY_URLS (pids $RELAY_PIDS)"
}

# d_replay starts the replicas again on what scenario (d) left in the
# broker and reports how long each took to replay the room registry (its
# readiness): what a replica restarted at that scale waits for.
d_replay() {
	[ "$SMOKE" = 1 ] && return 0
	local t0 t1
	t0=$(date +%s.%N)
	start_replicas d-replay
	# readiness only: start_replicas then waits for the management API's
	# connection counts, which lag by up to a statistics interval
	t1=$READY_AT
	awk -v a="$t0" -v b="$t1" -v n="$REPLICAS" -v r="$D_ROOMS" \
		'BEGIN { printf "registry replay: %d replica(s) ready %.1f s after start, one after the other, on the registry of %d rooms\n", n, b - a, r }' |
		tee "$OUT/d-replay.txt"
	stop_replicas
}

start_baseline() {
	port_open 127.0.0.1 "$BASELINE_PORT" && die "port $BASELINE_PORT is taken (set BASELINE_PORT)"
	"$BIN/chatbench" -serve-baseline "127.0.0.1:$BASELINE_PORT" >"$OUT/baseline.log" 2>&1 &
	BASELINE_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q '^baseline ws://' "$OUT/baseline.log" 2>/dev/null && return 0
		kill -0 "$BASELINE_PID" 2>/dev/null || die "baseline server exited: $(cat "$OUT/baseline.log")"
		sleep 0.1
	done
	die "baseline server not up after 10 s"
}

# --- runs -----------------------------------------------------------------
# totals NAME: one object total from the management API.
totals() {
	[ -n "$MGMT" ] || return 0
	curl -fsS -u "$RABBIT_USER:$RABBIT_PASS" "$MGMT/api/overview" 2>/dev/null |
		grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2
}
IDLE_CONNS=$(totals connections)
IDLE_CONSUMERS=$(totals consumers)
# settle_broker waits (at most 60 s) until the previous run's connections
# and consumers (and stopped replicas') are gone from RabbitMQ's counts, so
# each run starts on an idle broker.
settle_broker() {
	local i c k
	[ -n "$MGMT" ] || return 0
	for ((i = 0; i < 120; i++)); do
		c=$(totals connections) k=$(totals consumers)
		if [ -n "$c" ] && [ "$c" -le "${IDLE_CONNS:-0}" ] && [ "$k" -le "${IDLE_CONSUMERS:-0}" ]; then
			return 0
		fi
		sleep 0.5
	done
	log "warning: broker still has $c connections and $k consumers (idle: $IDLE_CONNS, $IDLE_CONSUMERS)"
}

REPORTS=()
mgmt=()
[ -z "$MGMT" ] || mgmt=(-mgmt "$MGMT" -mgmt-user "$RABBIT_USER" -mgmt-pass "$RABBIT_PASS")
FAILED=()
# bench LABEL ARGS...: one chatbench run; a run that is "not OK" (exit 3)
# is recorded like any other.
bench() {
	local label=$1 rc=0
	shift
	log "$label: chatbench $*"
	"$BIN/chatbench" -label "$label" -json "$OUT/$label.json" -size "$SIZE" \
		-connect-rate "$CONNECT_RATE" -settle "$SETTLE" -max-messages "$MAX_MESSAGES" \
		"$@" >"$OUT/$label.txt" 2>"$OUT/$label.log" || rc=$?
	cat "$OUT/$label.txt" >&2
	case $rc in
	0 | 3) REPORTS+=("$OUT/$label.json") ;;
	*) log "$label failed (exit $rc): $(tail -5 "$OUT/$label.log")" ;;
	esac
	[ "$rc" = 0 ] || FAILED+=("$label (exit $rc)")
}

# webstomp_bench LABEL ARGS...: a Web-STOMP run, skipped without RabbitMQ.
webstomp_bench() {
	if [ "$SMOKE" = 1 ]; then
		log "$1: skipped (SMOKE=1: no RabbitMQ)"
		return 0
	fi
	bench "$@"
}

load=(-duration "$DURATION" -warmup "$WARMUP" -drain "$DRAIN" -heartbeat "$HEARTBEAT")
webstomp=(-mode webstomp -urls "$WEBSTOMP_URL" -login "$RABBIT_USER" -passcode "$RABBIT_PASS" "${mgmt[@]}" ${RABBIT_PID:+-pid "$RABBIT_PID"})

for sc in $SCENARIOS; do
	case $sc in
	a)
		args=(-clients "$A_CLIENTS" -rooms "$A_ROOMS" -rates "$A_RATES" -sweep-all "${load[@]}")
		settle_broker
		start_replicas a
		bench a-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} "${args[@]}"
		stop_replicas
		settle_broker
		webstomp_bench a-webstomp "${webstomp[@]}" "${args[@]}"
		;;
	b)
		args=(-clients "$B_CLIENTS" -rooms 1 -rates "$B_RATES" "${load[@]}")
		settle_broker
		start_replicas b
		bench b-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} "${args[@]}"
		stop_replicas
		settle_broker
		webstomp_bench b-webstomp "${webstomp[@]}" "${args[@]}"
		settle_broker
		start_baseline
		bench b-baseline -mode baseline -urls "ws://127.0.0.1:$BASELINE_PORT/ws" -pid "$BASELINE_PID" "${args[@]}"
		stop_pid "$BASELINE_PID" baseline
		BASELINE_PID=
		;;
	c)
		args=(-idle -clients "$C_CLIENTS" -rooms "$C_ROOMS" -duration "$C_HOLD" -heartbeat "$C_HEARTBEAT" -connect-rate "$C_CONNECT_RATE")
		check_scale_c
		settle_broker
		start_replicas c
		check_replica_files
		bench c-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} \
			${C_SOURCE_ADDRS:+-source-addrs "$C_SOURCE_ADDRS"} "${args[@]}"
		stop_replicas
		settle_broker
		case $RABBIT_HOST in
		127.*) webstomp_bench c-webstomp "${webstomp[@]}" ${C_SOURCE_ADDRS:+-source-addrs "$C_SOURCE_ADDRS"} "${args[@]}" ;;
		*) webstomp_bench c-webstomp "${webstomp[@]}" "${args[@]}" ;;
		esac
		;;
	j)
		settle_broker
		PRESENCE_MESSAGES=true start_replicas j
		bench j-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} \
			-idle -clients "$J_CLIENTS" -rooms 1 -duration 1s -settle "$J_SETTLE"
		stop_replicas
		;;
	e)
		settle_broker
		start_replicas e
		bench e-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} \
			-join-storm -clients "$E_CLIENTS" -history "$E_HISTORY" -join-window "$E_WINDOW" -join-p99 "$E_P99" -drain "$DRAIN"
		stop_replicas
		;;
	d)
		settle_broker
		ARCHIVE_IDLE_AFTER=$D_ARCHIVE_AFTER start_replicas d
		bench d-chatrelay -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} \
			${RABBIT_CTL:+-broker-ctl "$RABBIT_CTL"} -rooms-scale "$D_ROOMS" -checkpoints "$D_CHECKPOINTS" \
			-history-fraction "$D_HISTORY_FRACTION" -history-messages "$D_HISTORY_MESSAGES" \
			-create-concurrency "$D_CREATE_CONCURRENCY" -create-rate "$D_CREATE_RATE" -create-p99 "$D_CREATE_P99" \
			-rooms "$D_ACTIVE" -clients "$D_CLIENTS" -rates "$D_RATES" -sweep-all "${load[@]}" \
			-archive-wait "$D_ARCHIVE_WAIT" ${D_ARCHIVE_MAX_STREAMS:+-archive-max-streams "$D_ARCHIVE_MAX_STREAMS"} \
			${RABBITNODE_PID:+-keep-rooms}
		stop_replicas
		d_replay
		;;
	r)
		args=(-clients "$R_CLIENTS" -rooms "$R_ROOMS" -rates "$R_RATES" -sweep-all "${load[@]}")
		settle_broker
		start_replicas r-plain
		bench r-plain -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} "${args[@]}"
		stop_replicas
		settle_broker
		start_replicas r-reads
		bench r-reads -mode chatrelay -urls "$RELAY_URLS" -pid "$RELAY_PIDS" "${mgmt[@]}" ${RABBIT_PID:+-broker-pid "$RABBIT_PID"} "${args[@]}" \
			-reads -typing-fraction "$R_TYPING_FRACTION"
		stop_replicas
		;;
	*) die "unknown scenario $sc (a, b, c, d, e, j or r)" ;;
	esac
done

[ ${#REPORTS[@]} -gt 0 ] || die "no run produced a report"
list=$(IFS=,; echo "${REPORTS[*]}")
{
	echo "# chatrelay vs RabbitMQ Web-STOMP"
	echo
	sed 's/^/    /' "$OUT/env.txt"
	echo
	"$BIN/chatbench" -summarize "$list" -json "$OUT/results.json"
} >"$OUT/results.md"
log "results in $OUT/results.md and $OUT/results.json"
cat "$OUT/results.md"
if [ "$SMOKE" = 1 ] && [ ${#FAILED[@]} -gt 0 ]; then
	die "SMOKE=1: failed or NOT OK: ${FAILED[*]}"
fi
