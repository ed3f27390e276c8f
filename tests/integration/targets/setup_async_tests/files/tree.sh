#!/bin/sh
# A job whose process tree tries to survive being stopped:
#  - a child that ignores SIGTERM,
#  - a grandchild that double-forks and calls setsid, leaving the job's process group.
# Every process runs this file, so `pgrep -f <path of this file>` finds the whole tree.
case "$1" in
  stubborn) trap '' TERM; while :; do sleep 1; done ;;
  escape) setsid sh "$0" stubborn & exit 0 ;;
  *) sh "$0" stubborn & sh "$0" escape; echo tree started; sleep "${1:-30}" ;;
esac
