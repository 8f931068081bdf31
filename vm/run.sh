#!/usr/bin/env bash
# Boots the stock Debian 12 guest (vm/build-image.sh) under QEMU, runs one shell command in a
# copy of this checkout inside it, streams the command's output here and exits with its status.
#
# Usage: vm/run.sh IMAGE_DIR 'COMMAND'     (e.g. vm/run.sh /var/cache/pyrunc-vm/KEY 'make test')
#
# Environment:
#   VM_TIMEOUT   seconds for the whole boot + command + poweroff (default 5400: the suite takes
#                ~50 min under TCG); QEMU is killed then
#   VM_PASS_ENV  names of variables passed into the guest's command (default PYTEST_ARGS)
#   VM_CONSOLE   1: show the guest's console (kernel, systemd) too, not only the command's output
#   VM_MEM, VM_CPUS  guest memory (default 6G) and vCPUs (default 2)
#   VM_CPU       the CPU model QEMU emulates (default max)
#   VM_KERNEL_ARGS  more words for the guest kernel's command line
#   VM_LSM       the guest's major LSM: apparmor (default, Debian's) or selinux (security=selinux
#                selinux=1: the image's permissive policy and labels, see build-image.sh)
#   VM_ACCEL     QEMU accelerator (default tcg,thread=multi: this machine's /dev/kvm cannot boot
#                Debian's kernel; `kvm` where it can)
#
# Exit status: the command's; 124 when the timeout killed the guest, 125 when the guest ended
# without reporting a status (it failed to boot, or the driver unit could not run).
set -euo pipefail

case ${VM_LSM:-apparmor} in
    apparmor) lsm_args= ;;
    selinux) lsm_args="security=selinux selinux=1" ;;
    *) echo "vm/run: VM_LSM must be apparmor or selinux, not '$VM_LSM'" >&2; exit 125 ;;
esac
image=${1:?image directory (vm/build-image.sh prints it)}
cmd=${2:?command}
repo=$(cd "$(dirname "$0")/.." && pwd)
timeout=${VM_TIMEOUT:-5400}
log() { echo "vm/run: $*" >&2; }

for f in disk.img vmlinuz initrd.img; do
    [ -f "$image/$f" ] || { log "$image/$f is missing"; exit 125; }
done
command -v qemu-system-x86_64 >/dev/null || { log "qemu-system-x86_64 is missing (make vm-deps)"; exit 125; }

run=$(mktemp -d /tmp/pyrunc-vm.XXXXXX)
qpid=
cleanup() {
    # Only the QEMU this script started, by its PID.
    if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    if [ -n "${VM_KEEP:-}" ]; then log "kept $run"; else rm -rf "$run"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The writable share: the command, the environment it is given, and (from the guest) its status.
mkdir "$run/share"
printf '%s\n' "$cmd" >"$run/share/cmd"
# The working tree (without what .gitignore lists: the host's venv, build/, native builds) as one
# tar file: the guest unpacks it in seconds, where copying its ~1200 files one by one over 9p
# under TCG took ~2 minutes.
rsync -a --filter=':- .gitignore' --exclude=/.venv --exclude=/build --exclude=__pycache__ \
    "$repo/" "$run/tree/"
tar -cf "$run/share/tree.tar" -C "$run/tree" .
rm -rf "$run/tree"
: >"$run/share/env"
for name in ${VM_PASS_ENV-PYTEST_ARGS}; do
    [ -n "${!name+x}" ] && printf '%s=%q\n' "$name" "${!name}" >>"$run/share/env"
done
: >"$run/console.log"
: >"$run/output.log"

# mitigations=off: the guest's kernel would otherwise go through retpolines on every indirect
# call, which an emulated CPU pays dearly for (a loop of 200k one-byte reads: 3.2 s -> 1.4 s);
# the guest is a throw-away test machine, and mitigations change no behaviour the tests check.
# -snapshot: the guest writes into a temporary overlay, so the cached image stays as built and
# every run starts from the same state. ttyS0 is the console (kernel, systemd), ttyS1 carries
# only the command's output.
t0=$(date +%s)
qemu-system-x86_64 \
    -accel "${VM_ACCEL:-tcg,thread=multi}" -cpu "${VM_CPU:-max}" -smp "${VM_CPUS:-2}" -m "${VM_MEM:-6G}" \
    -machine q35 -nographic -monitor none -nic none -no-reboot \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 panic=1 quiet mitigations=off pyrunc.vm=1 $lsm_args ${VM_KERNEL_ARGS:-}" \
    -drive "file=$image/disk.img,format=raw,if=virtio,cache=unsafe" -snapshot \
    -virtfs "local,path=$repo,mount_tag=pyrunc-src,security_model=none,readonly=on" \
    -virtfs "local,path=$run/share,mount_tag=pyrunc-out,security_model=none" \
    -chardev "file,id=console,path=$run/console.log" -serial chardev:console \
    -chardev "file,id=output,path=$run/output.log" -serial chardev:output \
    </dev/null >"$run/qemu.log" 2>&1 &
qpid=$!

if [ "${VM_CONSOLE:-}" = 1 ]; then
    tail -n +1 -F --pid="$qpid" "$run/console.log" "$run/output.log" 2>/dev/null &
else
    tail -n +1 -F --pid="$qpid" "$run/output.log" 2>/dev/null &
fi
tailpid=$!

status=
while kill -0 "$qpid" 2>/dev/null; do
    if (( $(date +%s) - t0 >= timeout )); then
        log "timeout after ${timeout} s: killing QEMU (pid $qpid)"
        kill "$qpid" 2>/dev/null || true
        status=124
        break
    fi
    sleep 1
done
wait "$qpid" 2>/dev/null || true
qpid=
wait "$tailpid" 2>/dev/null || true

if [ -z "$status" ]; then
    if [ -s "$run/share/status" ]; then
        status=$(cat "$run/share/status")
    else
        log "the guest reported no exit status; its console:"
        tail -n 40 "$run/console.log" >&2
        tail -n 5 "$run/qemu.log" >&2
        status=125
    fi
fi
log "guest done in $(( $(date +%s) - t0 )) s, exit status $status"
exit "$status"
