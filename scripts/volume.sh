#!/bin/sh
# volume.sh measures peak RSS and wall time of `trailhound scan --no-notify`
# and `trailhound run --once` (file source) over the Invictus records
# replayed to N events, against plain decoding of the same file into maps.
# Not part of CI: a run at 1M events takes a few minutes and 1.3 GB of disk.
#
#   scripts/volume.sh [N]        (default 1000000; run from the repository root)
#
# WORK (default /tmp/trailhound-volume) holds the binaries, the replayed
# file and a fresh data directory per command. The environment passes
# through: GOMEMLIMIT=64MiB scripts/volume.sh measures another soft memory
# limit than the binary's default (70 MiB), GOMEMLIMIT=off none. COMMANDS
# (default "plain-decode scan scan-json run-once") picks what to measure:
# COMMANDS="scan run-once" scripts/volume.sh 10000000.
# CPU is user plus system time: on a shared machine it varies less than
# wall time. At 10000000 events (the 10M case, not for CI) the replayed
# file takes 12.6 GB and the run about 20 minutes on two cores.
set -eu
N=${1:-1000000}
WORK=${WORK:-/tmp/trailhound-volume}
COMMANDS=${COMMANDS:-plain-decode scan scan-json run-once}
mkdir -p "$WORK"
go build -o "$WORK/" ./cmd/trailhound ./scripts/replay ./scripts/plaindecode
EVENTS="$WORK/events-$N.jsonl"
[ -s "$EVENTS" ] || "$WORK/replay" -n "$N" >"$EVENTS"

config() { # config DIR: a file source on $EVENTS, state in DIR, nothing posted
	rm -rf "$1" && mkdir -p "$1"
	cat >"$1/trailhound.yaml" <<EOC
data_dir: $1/data
sources:
  - name: volume
    type: file
    schedule: "@every 5m"
    options:
      paths: [$EVENTS]
notify:
  terminal: false
EOC
}

measure() { # measure NAME CMD...: one line of wall time, CPU seconds and peak RSS
	name=$1
	shift
	/usr/bin/time -v "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" &
	timer=$!
	# Where /proc is there, also the peaks of anonymous memory (the heap)
	# and of file pages (the binary, the database's memory map), sampled
	# every half second.
	anon=0 file=0
	while kill -0 "$timer" 2>/dev/null; do
		for pid in $(pgrep -P "$timer" 2>/dev/null); do
			a=$(awk '/^RssAnon/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
			f=$(awk '/^RssFile/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
			[ -n "$a" ] && [ "$a" -gt "$anon" ] && anon=$a
			[ -n "$f" ] && [ "$f" -gt "$file" ] && file=$f
		done
		sleep 0.5
	done
	wait "$timer" || true
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/$name.err")
	user=$(sed -n 's/.*User time (seconds): //p' "$WORK/$name.err")
	sys=$(sed -n 's/.*System time (seconds): //p' "$WORK/$name.err")
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/$name.err")
	printf '%-28s wall %-9s cpu %7.1f s  peak RSS %6d MB (anon %4d, file %4d)\n' "$name" "$wall" \
		"$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" $((rss / 1024)) $((anon / 1024)) $((file / 1024))
}

echo "$N events, $(du -m "$EVENTS" | cut -f1) MB"
for c in $COMMANDS; do
	case $c in
	plain-decode) measure plain-decode "$WORK/plaindecode" "$EVENTS" ;;
	scan)
		config "$WORK/scan"
		measure scan "$WORK/trailhound" scan --config "$WORK/scan/trailhound.yaml" --no-notify
		tail -n 1 "$WORK/scan.out"
		;;
	scan-json)
		config "$WORK/scan-json"
		measure scan-json "$WORK/trailhound" scan --config "$WORK/scan-json/trailhound.yaml" --no-notify --format json
		;;
	run-once)
		config "$WORK/run"
		measure run-once "$WORK/trailhound" run --config "$WORK/run/trailhound.yaml" --once
		;;
	*) echo "volume.sh: unknown command $c in COMMANDS" >&2 && exit 2 ;;
	esac
done
