#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# cli-test.sh SHMIPC [host|vm]: the shmipc tool's tests, as TAP. POSIX sh,
# so that the VM's busybox runs it too. "vm" adds the kmod-only checks:
# status and module unload/load through libkmod (needs root and the module
# at $SHMIPC_KO). Every bad invocation must exit non-zero with one line on
# stderr, and nothing may die of a signal.

bin=${1:?usage: cli-test.sh SHMIPC [host|vm]}
where=${2:-host}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
region=clitest$$

ok() {		# ok DESCRIPTION: the last check passed if $? was 0
	if [ "$1" = 0 ]; then
		n=$((n + 1)); echo "ok $n $2"
	else
		n=$((n + 1)); echo "not ok $n $2"; failed=$((failed + 1))
		sed 's/^/# /' "$tmp/out" "$tmp/err" 2>/dev/null | head -20
	fi
}

run() {		# run ARGS...: the tool, output in $tmp/out and $tmp/err
	"$bin" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
}

# A usage error: exit 2, one line on stderr, no signal.
bad() {		# bad DESCRIPTION ARGS...
	d=$1; shift
	run "$@"; rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
	ok $? "bad arguments give one line and exit 2: $d"
}

# An operation that fails: exit 1, one line on stderr.
fails() {	# fails DESCRIPTION ARGS...
	d=$1; shift
	run "$@"; rc=$?
	[ $rc -eq 1 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]
	ok $? "a failed operation gives one line and exit 1: $d"
}

json_ok() {	# the output parses as JSON (python3 where there is one)
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin if l.strip()]' <"$tmp/out"
	else
		grep -q '^[[{]' "$tmp/out"
	fi
}

echo "TAP version 13"

run --help; ok $? "shmipc --help"
for c in status module ls stat top peers send recv rm bench; do
	run "$c" --help && grep -q "^usage: shmipc $c" "$tmp/out"
	ok $? "shmipc $c --help"
done
bad "no command"
bad "unknown command" frobnicate
bad "status with an argument" status extra
bad "module without a verb" module
bad "module with a bad verb" module reload
bad "ls with two regions" ls a b
bad "ls with a channel path" ls a/b
bad "stat without a path" stat
bad "stat with a bad path" stat /x
bad "top with a bad interval" top --interval 0
bad "top with a bad interval" top --interval abc
bad "send without a path" send
bad "send to a region only" send "$region"
bad "send with a bad type" send "$region/c" --type -1
bad "recv with a zero count" recv "$region/c" --count 0
bad "recv with a bad timeout" recv "$region/c" --timeout x
bad "rm without a path" rm
bad "rm with an empty channel" rm "$region/"
bad "bench with a bad section" bench nonsense
bad "peers without a region" peers
bad "peers with a bad --watch" peers "$region" --watch x
fails "recv from a missing region" recv "$region/c" --timeout 10
fails "stat of a missing region" stat "$region"
fails "rm of a missing region" rm "$region"
fails "module load of a missing file" module load /nonexistent/shmipc.ko

run status; ok $? "status"
grep -q "^backend: " "$tmp/out"; ok $? "status names the backend"
run status --json && json_ok; ok $? "status --json"

printf 'one\ntwo\n\nfour\n' | "$bin" send "$region/chat" --create --type 7 >"$tmp/out" 2>"$tmp/err"
ok $? "send lines, creating region and channel"
run ls && grep -q " $region " "$tmp/out"; ok $? "ls lists the region"
run ls --json && json_ok; ok $? "ls --json"
run ls "$region" && grep -q "^chat .*channel" "$tmp/out"; ok $? "ls REGION lists the channel"
run ls "$region" --json && json_ok; ok $? "ls REGION --json"
run stat "$region/chat" && grep -q "depth 4, sent 4" "$tmp/out"; ok $? "stat REGION/CHANNEL: depth and counts"
run stat "$region/chat" --json && json_ok; ok $? "stat REGION/CHANNEL --json"
run stat "$region" && grep -q "^region $region" "$tmp/out"; ok $? "stat REGION"
run stat "$region" --json && json_ok; ok $? "stat REGION --json"
run top "$region" --iterations 2 --interval 20 --json && json_ok &&
	[ "$(grep -c '"channel":"chat"' "$tmp/out")" -eq 2 ]
ok $? "top --json refreshes twice"
run top --iterations 1 --interval 10 && grep -q "^$region .*chat" "$tmp/out"
ok $? "top lists every region's channels"
run recv "$region/chat" --count 4 --timeout 1000 &&
	[ "$(printf 'one\ntwo\n\nfour\n')" = "$(cat "$tmp/out")" ]
ok $? "recv gets the lines back, in order, an empty one included"
run recv "$region/chat" --timeout 50; [ $? -eq 1 ] && grep -q "timed out" "$tmp/err"
ok $? "recv times out with a clear message"
head -c 70000 /dev/zero | tr '\0' 'x' | "$bin" send "$region/raw" --raw --create >"$tmp/out" 2>"$tmp/err"
ok $? "send --raw: the whole input as one message"
run recv "$region/raw" --raw --timeout 1000 && [ "$(wc -c <"$tmp/out")" -eq 70000 ]
ok $? "recv --raw gets 70000 bytes back"
# A peer killed while blocked in recv: seen, then reclaimed.
"$bin" recv "$region/chat" --timeout 20000 >/dev/null 2>&1 &
holder=$!
sleep 1
run peers "$region" && grep -q " $holder .*alive" "$tmp/out" && grep -q "(this tool)" "$tmp/out"
ok $? "peers lists a live peer and itself"
run peers "$region" --json && json_ok; ok $? "peers --json"
kill -9 $holder
wait $holder 2>/dev/null
run peers "$region" && ! grep -q " $holder " "$tmp/out" &&
	grep -q "^reclaimed: [1-9][0-9]* dead peers" "$tmp/out"
ok $? "a killed peer is reclaimed when the region is next opened"
run peers "$region" --watch 1 && grep -q "^reclaimed:" "$tmp/out"
ok $? "peers --watch returns at its deadline"
run rm "$region/raw"; ok $? "rm REGION/CHANNEL"
run ls "$region" && ! grep -q "^raw " "$tmp/out"; ok $? "the channel is gone"
run rm "$region"; ok $? "rm REGION"
fails "the region is gone" stat "$region"

if [ "$where" = host ]; then
	run bench alloc --csv && head -n 1 "$tmp/out" | grep -q '^section,transport,size,metric,value$' &&
		grep -q '^alloc,"shmipc heap",65536,p50_ns,' "$tmp/out"
	ok $? "bench alloc --csv"
	run bench pingpong --quick --json && json_ok && grep -q '"UNIX socket"' "$tmp/out"
	ok $? "bench pingpong --quick --json"
fi

if [ "$where" = vm ]; then
	run status && grep -q "^module: *loaded" "$tmp/out" && grep -q "^backend: *kmod" "$tmp/out"
	ok $? "status: module loaded, kmod backend"
	"$bin" send "$region/wait" --create </dev/null >/dev/null 2>&1
	"$bin" recv "$region/wait" --timeout 3000 >/dev/null 2>&1 &
	holder=$!
	sleep 1
	run module unload; [ $? -eq 1 ] && grep -q "in use" "$tmp/err"
	ok $? "module unload refused while a region is open"
	wait $holder
	run rm "$region"; ok $? "rm a kmod region"
	run module unload && grep -q "unloaded" "$tmp/out"; ok $? "module unload"
	run status && grep -q "^module: *not loaded" "$tmp/out" && grep -q "^backend: *posix" "$tmp/out"
	ok $? "status: not loaded, posix backend"
	fails "module unload when not loaded" module unload
	run module load "$SHMIPC_KO"; ok $? "module load PATH"
	fails "module load when loaded" module load "$SHMIPC_KO"
	[ -c /dev/shmipc ]; ok $? "/dev/shmipc is back"
fi

echo "1..$n"
[ $failed -eq 0 ]
