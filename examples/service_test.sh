#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# End-to-end test of examples/service.c with service_load: many pipelined
# clients with every reply checked, a worker SIGKILLed mid-run (at most the
# task it was running may answer "ERR crashed"), clients that vanish with
# requests in flight, a client that stops reading (backpressure), the
# connection limit, and SIGTERM / SIGINT shutdown (exit 0, no worker left).
# Every step is bounded in time: a hang fails. Usage: service_test.sh BUILD_DIR
set -euo pipefail
b=${1:-build}/examples
tmp=$(mktemp -d)
svc=
port=

cleanup() {
	if [ -n "$svc" ]; then kill -KILL "$svc" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "service_test: FAIL: $*" >&2
	if [ -s "$tmp/err" ]; then sed 's/^/  service stderr: /' "$tmp/err" >&2; fi
	exit 1
}

# state PID: the process state letter (R, S, Z, ...), empty if gone.
state() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1 || true; }
alive() { case "$(state "$1")" in Z | "") return 1 ;; esac; }
children() { cat "/proc/$svc/task/$svc/children" 2>/dev/null || true; }
nfds() { find "/proc/$svc/fd" -mindepth 1 | wc -l; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }	# CPU time used, 1/100 s
load() { timeout 120 "$b/service_load" --port "$port" --quiet "$@"; }

start_service() {	# ARGS...: start it, read the port it prints
	"$b/service" --port 0 --workers 2 "$@" >"$tmp/out" 2>"$tmp/err" &
	svc=$!
	# Up to 30 s: an AddressSanitizer build on a loaded machine starts slowly.
	for _ in $(seq 600); do
		[ -s "$tmp/out" ] && break
		alive "$svc" || fail "service did not start"
		sleep 0.05
	done
	port=$(head -1 "$tmp/out")
	[[ "$port" =~ ^[0-9]+$ ]] || fail "no port on the first line of stdout: '$port'"
	for _ in $(seq 600); do	# both workers up
		[ "$(children | wc -w)" -eq 2 ] && return
		sleep 0.05
	done
	fail "service has $(children | wc -w) workers, want 2"
}

stop_service() {	# SIG: must exit 0 within 5 s, leaving no worker behind
	local sig=$1 workers rc=0
	workers=$(children)
	kill "-$sig" "$svc"
	for _ in $(seq 100); do
		alive "$svc" || break
		sleep 0.05
	done
	! alive "$svc" || fail "service still running 5 s after SIG$sig"
	wait "$svc" || rc=$?
	svc=
	[ "$rc" -eq 0 ] || fail "service exited $rc after SIG$sig"
	for w in $workers; do
		[ -z "$(state "$w")" ] || fail "worker $w still there after SIG$sig ($(state "$w"))"
	done
	echo "SIG$sig: exit 0, workers ($workers) gone: ok"
}

json_field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

start_service
fds0=$(nfds)

# 1. 50 concurrent clients, 8 pipelined each, some malformed requests.
out=$(load --conns 50 --pipeline 8 --requests 20000 --seconds 60 --bad-every 13) ||
	fail "50 clients: $out"
echo "50 clients x 8 pipelined, 20000 requests: ok ($(echo "$out" | json_field requests_per_s) req/s)"

# 2. SIGKILL a worker while 50 clients load the pool. The pool re-runs the
# tasks the worker had queued but not started on its replacement; only
# the one it was running may answer "ERR crashed". Tasks of ~2 ms, so that
# the worker is most likely inside one (the pool queues only ~200 us of
# work per worker: with short tasks a worker often waits for the parent).
load --conns 50 --pipeline 8 --requests 3000 --seconds 60 --nmax 400000 --max-crashed 1 \
	>"$tmp/kill.out" 2>&1 &
lpid=$!
victim=$(children | cut -d' ' -f1)
t0=$(ticks "$victim")
for _ in $(seq 200); do	# the load has started (after its reference table) and the victim works
	[ $(($(ticks "$victim") - t0)) -ge 30 ] && break
	sleep 0.05
done
alive "$lpid" || fail "the load ended before the kill (raise --requests)"
kill -KILL "$victim"
rc=0
wait "$lpid" || rc=$?
[ "$rc" -eq 0 ] || fail "load across a worker kill: $(cat "$tmp/kill.out")"
for _ in $(seq 100); do
	[ "$(children | wc -w)" -eq 2 ] && break
	sleep 0.05
done
[ "$(children | wc -w)" -eq 2 ] || fail "no replacement worker: children '$(children)'"
case " $(children) " in *" $victim "*) fail "the killed worker $victim is still a child" ;; esac
echo "worker $victim killed mid-run: every reply right," \
	"$(json_field crashed <"$tmp/kill.out") crashed, replaced: ok"

# 3. Clients that disconnect with requests in flight: their results are
# dropped, the service answers others, and no fd is left behind.
for _ in 1 2 3 4 5; do
	exec 3<>"/dev/tcp/127.0.0.1/$port"
	seq 100000 100199 >&3
	exec 3>&-
done
out=$(load --conns 10 --pipeline 4 --requests 2000 --seconds 60) || fail "after disconnects: $out"
for _ in $(seq 100); do
	[ "$(nfds)" -eq "$fds0" ] && break
	sleep 0.05
done
[ "$(nfds)" -eq "$fds0" ] || fail "service has $(nfds) fds, had $fds0"
echo "5 clients gone mid-flight, fds back to $fds0: ok"

# 4. Backpressure: two clients send 4000 requests each without reading for
# 1.5 s, while 20 others are served; everything must arrive, and the
# service's memory stay bounded (it stops reading the stalled clients).
load --conns 2 --pipeline 4000 --requests 8000 --seconds 60 --nmax 2000 --stall-ms 1500 \
	>"$tmp/stall.out" 2>&1 &
lpid=$!
out=$(load --conns 20 --pipeline 4 --requests 10000 --seconds 60) || fail "beside a stalled client: $out"
rc=0
wait "$lpid" || rc=$?
[ "$rc" -eq 0 ] || fail "stalled client: $(cat "$tmp/stall.out")"
rss=$(awk '/^VmHWM/ { print $2 }' "/proc/$svc/status")
[ "$rss" -lt 65536 ] || fail "service peak RSS $rss kB"
echo "client not reading for 1.5 s, others served, peak RSS ${rss} kB: ok"

stop_service TERM

# 5. The connection limit, then SIGINT.
start_service --max-conns 3
fds0=$(nfds)
exec 4<>"/dev/tcp/127.0.0.1/$port" 5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port"
exec 7<>"/dev/tcp/127.0.0.1/$port"
line=
read -r -t 5 line <&7 || true
[ "$line" = "ERR busy" ] || fail "4th connection over --max-conns 3 got '$line'"
printf '5\n' >&4
read -r -t 5 line <&4 || true
[ "$line" = 1418350815616153245 ] || fail "reply to 5 was '$line'"
exec 4>&- 5>&- 6>&- 7>&-
for _ in $(seq 100); do	# the service has seen them close
	[ "$(nfds)" -eq "$fds0" ] && break
	sleep 0.05
done
out=$(load --conns 3 --pipeline 2 --requests 500 --seconds 60) || fail "after the limit: $out"
echo "--max-conns 3: 4th connection refused with ERR busy, then served: ok"
stop_service INT

# 6. Kill workers until the pool stops replacing them (16 restarts a
# second): requests fail with an ERR reply, and the idle service must
# not spin on the pool fd (a dead worker's pidfd keeps it readable).
start_service
for _ in $(seq 60); do
	for w in $(children); do kill -KILL "$w" 2>/dev/null || true; done
	sleep 0.02
done
exec 4<>"/dev/tcp/127.0.0.1/$port"
printf '5\n' >&4
read -r -t 5 line <&4 || true
exec 4>&-
[[ "$line" =~ ^ERR\ (crashed|failed)$ ]] || fail "with no worker left, got '$line'"
grep -q "restarts exhausted" "$tmp/err" || fail "the service did not see the restart limit"
t0=$(ticks "$svc")
sleep 2
t1=$(ticks "$svc")
[ $((t1 - t0)) -lt 20 ] || fail "idle service used $((t1 - t0)) clock ticks in 2 s"
echo "restart limit reached: '$line', idle service stays idle: ok"
stop_service TERM
echo "service_test: all ok"
