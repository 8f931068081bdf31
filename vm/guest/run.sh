#!/bin/bash
# Runs inside the guest, started by pyrunc-vm.service from the read-only share of the checkout.
# Unpacks the working tree (vm/run.sh packed it into the share as tree.tar, without what the
# host built: the venv, build/, __pycache__ and the rest .gitignore lists, so the guest builds
# its own) into a guest-local directory, runs the
# command the host wrote into the writable share (cmd, with the environment it passes in env),
# streams its output to the second serial port (the host's terminal), and writes its exit status
# to the share's `status`, and powers the guest off at once (the unit's poweroff is the fallback).
set -u
out=/mnt/pyrunc-out
# Not under /root (0700): the rootless tests run this checkout's pyrunc as an unprivileged user.
work=/srv/pyrunc
tty=/dev/ttyS1

# Raw output: no \r added to each line, nothing echoed back.
stty -F $tty raw -echo 2>/dev/null
{
    echo "guest: $(uname -r), $(stat -fc %T /sys/fs/cgroup) on /sys/fs/cgroup," \
         "LSM $(cat /sys/kernel/security/lsm 2>/dev/null)$(test -e /sys/fs/selinux/enforce &&
         echo " (SELinux enforce=$(cat /sys/fs/selinux/enforce))"), up $(cut -d' ' -f1 /proc/uptime) s"
    mkdir -p $work
    tar -xf $out/tree.tar -C $work
    cd $work
    set -a
    . $out/env
    set +a
    echo "guest: running in $work: $(cat $out/cmd)"
    t0=$(date +%s)
    bash $out/cmd </dev/null
    rc=$?
    echo "guest: exit status $rc after $(( $(date +%s) - t0 )) s"
    echo $rc >$out/status.tmp && mv $out/status.tmp $out/status
} 2>&1 | cat >$tty
sync
# The status is in the share and the disk is QEMU's throw-away overlay (-snapshot): nothing in
# the guest needs an orderly shutdown, which under TCG takes minutes (every unit stopped, the
# docker and containerd leftovers of the tests among them). Power off at once; the unit's
# ExecStopPost poweroff stays as the fallback.
systemctl poweroff -ff
