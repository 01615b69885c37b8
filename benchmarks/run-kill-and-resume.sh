#!/bin/bash
# Real-run check of BackupAndRestore: trains the tutorial CNN on full Fashion-MNIST for 3 epochs uninterrupted, then
# the same command with --backup and --backup-every, killed with SIGKILL once the backup after batch 1,200 of epoch 2
# appears, then run again. The resumed model file must hold the same bytes as the uninterrupted one.
# Usage: benchmarks/run-kill-and-resume.sh [workdir]   (needs Debian's dataset-fashion-mnist; about 2 minutes)
set -u
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
rm -rf "$work/bk" "$work"/*.osprey* "$work"/*.log "$work"/x-*
train() { "$root/osprey" train --dataset fashion-mnist --epochs 3 --seed 7 "$@"; }
train -o "$work/whole.osprey" > "$work/whole.log" 2>&1 || { cat "$work/whole.log"; exit 1; }
train --backup "$work/bk" --backup-every 400 -o "$work/resumed.osprey" > "$work/first.log" 2>&1 &
pid=$!
until [ -f "$work/bk/epoch-00001-batch-0001200-of-0001875.osprey" ]; do
  if ! kill -0 "$pid" 2>/dev/null; then echo "the run ended before the backup appeared" >&2; exit 1; fi
  sleep 0.2
done
pkill -9 -f -- "-o $work/resumed.osprey" 2>/dev/null
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
echo "killed; the backup folder held: $(ls -A "$work/bk" | tr '\n' ' ')"
train --backup "$work/bk" --backup-every 400 -o "$work/resumed.osprey" > "$work/resumed.log" 2>&1 \
  || { cat "$work/resumed.log"; exit 1; }
echo "the backup folder afterwards: $(ls -A "$work/bk" | wc -l) files"
grep -hE "Resuming|Backing|Test accuracy|Trained" "$work/whole.log" "$work/first.log" "$work/resumed.log"
status=0
for f in whole resumed; do mkdir -p "$work/x-$f" && (cd "$work/x-$f" && unzip -o -q "../$f.osprey"); done
for f in $(cd "$work/x-whole" && ls); do
  if cmp -s "$work/x-whole/$f" "$work/x-resumed/$f"; then echo "identical: $f"; else echo "DIFFERENT: $f"; status=1; fi
done
exit $status
