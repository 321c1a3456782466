#!/usr/bin/env bash
# memcap.sh LIMIT CMD [ARG...]: run CMD in a new memory cgroup of LIMIT
# bytes (512M, 1G, ...), counting everything the kernel charges to it:
# anonymous memory and the page cache of the files it reads and maps. Under
# the limit the kernel reclaims the coldest file pages first, as a small
# machine would; a CMD that needs more anonymous memory than LIMIT is
# killed (the exit status says so). Prints the cgroup's peak and the OOM
# kills on standard error. Needs root and cgroup v1 or v2 with the memory
# controller. Used for BENCHMARKS.md: `scripts/memcap.sh 512M indexd bench
# import -n 1000000`.
set -euo pipefail

if [ $# -lt 2 ]; then echo "usage: memcap.sh LIMIT CMD [ARG...]" >&2; exit 2; fi
if [ "$(id -u)" != 0 ]; then echo "memcap: needs root" >&2; exit 2; fi
limit=$1; shift
name=indexd-memcap-$$
if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; then
  cg=/sys/fs/cgroup/$name
  mkdir "$cg"
  echo "$limit" > "$cg/memory.max"
  echo 0 > "$cg/memory.swap.max" 2>/dev/null || true
  peak=$cg/memory.peak; events=$cg/memory.events
elif [ -d /sys/fs/cgroup/memory ]; then
  cg=/sys/fs/cgroup/memory/$name
  mkdir "$cg"
  echo "$limit" > "$cg/memory.limit_in_bytes"
  peak=$cg/memory.max_usage_in_bytes; events=$cg/memory.oom_control
else
  echo "memcap: no memory cgroup controller here" >&2; exit 2
fi
cleanup() { rmdir "$cg" 2>/dev/null || true; }
trap cleanup EXIT

set +e
bash -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' memcap "$cg" "$@"
rc=$?
set -e
echo "memcap: limit $limit; peak charged $(( $(cat "$peak") >> 20 )) MiB; $(grep -E 'oom_kill ' "$events" | tr '\n' ' ')exit $rc" >&2
exit $rc
