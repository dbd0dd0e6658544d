#!/usr/bin/env bash
# leash.sh CMD ARGS...: runs CMD as a child and stops it (SIGTERM, SIGKILL after 10 s) when
#  - this script's stdin reaches EOF: the parent holding the pipe exited or died (even SIGKILL),
#  - or this script gets SIGTERM/SIGINT.
# This is how test runs guarantee that dev servers never outlive them.
"$@" </dev/null &
child=$!
stop_child() {
  kill -TERM "$child" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$child" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$child" 2>/dev/null
}
trap 'stop_child; wait "$child"; exit $?' TERM INT
while kill -0 "$child" 2>/dev/null; do
  read -r -t 1 _
  rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -gt 128 ]; then continue; fi  # a line or a timeout: parent alive
  stop_child                                                  # EOF: parent gone
  break
done
wait "$child"
