#!/bin/sh
# Run the C tests in the guest; $1 = label
cd /tmp/ct/run || exit 1
echo "== $1: kernel $(uname -r), $(nproc) CPUs, uid $(id -u)"
grep -E '^NS(pid|sid|caba):' /proc/self/status
./pidfd_info_test; echo "== pidfd_info_test rc=$?"
./proc-pid-status-nscaba; echo "== proc-pid-status-nscaba rc=$?"
./caba-example $$; echo "== caba-example rc=$?"
exit 0
