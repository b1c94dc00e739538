#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# layers.sh OBJDIR [TAPFILE]: libshm's files must call only downward. Reads
# each object's defined and undefined symbols (nm), draws the file-level
# call graph (a.o -> b.o when a.o uses a symbol b.o defines), prints it
# bottom-up, and fails if it has a cycle, naming the files in it. TAP.
set -uo pipefail

dir=${1:?usage: layers.sh OBJDIR [TAPFILE]}
tap=${2:-/dev/null}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	nm --defined-only "$o" | awk -v f="$f" '$2 ~ /^[TDBRCV]$/ { print $3, f }'
done | sort -u >"$tmp/defs"
for o in "$dir"/*.o; do
	f=$(basename "$o" .o)
	nm --undefined-only "$o" | awk -v f="$f" '{ print $2, f }'
done | sort -u >"$tmp/uses"
# "user definer" edges, and every file as a node of its own.
join "$tmp/uses" "$tmp/defs" | awk '$2 != $3 { print $2, $3 }' | sort -u >"$tmp/edges"
for o in "$dir"/*.o; do b=$(basename "$o" .o); echo "$b $b"; done >>"$tmp/edges"

echo "# libshm call graph, each file with the files it calls:"
awk '$1 != $2 { c[$1] = c[$1] " " $2 } $1 == $2 { n[$1] = 1 }
     END { for (f in n) print "#   " f ":" (f in c ? c[f] : " (nothing)") }' \
	"$tmp/edges" | sort
if tsort "$tmp/edges" >"$tmp/order" 2>"$tmp/loops"; then
	echo "# bottom-up: $(tac "$tmp/order" | tr '\n' ' ')"
	echo "ok - libshm's files call only downward (no cycle in the call graph)" | tee -a "$tap"
	exit 0
fi
echo "not ok - libshm's file-level call graph has a cycle" | tee -a "$tap"
sed 's/^/#   /' "$tmp/loops"
exit 1
