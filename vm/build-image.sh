#!/usr/bin/env bash
# Builds the stock Debian 12 guest of `make test-vm` (see vm/README.md) and prints the directory
# that holds it: disk.img (ext4, the root filesystem), vmlinuz and initrd.img (taken from the
# image's /boot, so QEMU boots Debian's own kernel without a bootloader).
#
# Usage: DEB_PACKAGES='...' PIP_PACKAGES='...' vm/build-image.sh
# (the Makefile passes its own lists, so the guest has what `make install` would install)
#
# The image is cached under $VM_CACHE (/var/cache/pyrunc-vm), outside the checkout, in a directory
# named by a hash of this recipe (this script, vm/image/, the two package lists): when none of them
# changed, this prints the cached directory at once; otherwise it builds a new one from nothing and
# removes all but the three last used (branches with different recipes can share one cache). Everything the guest needs is put in the image: it boots with no network.
# The build needs root, debootstrap, e2fsprogs (mkfs.ext4 -d: no loop mount) and python3-venv.
set -euo pipefail
python=/usr/bin/python3   # Debian's, the guest's own interpreter: the wheels get its tags

here=$(cd "$(dirname "$0")" && pwd)
cache=${VM_CACHE:-/var/cache/pyrunc-vm}
: "${DEB_PACKAGES:?the Makefile's DEB_PACKAGES}" "${PIP_PACKAGES:?the Makefile's PIP_PACKAGES}"
# What a stock host of the issue has (systemd as PID 1, AppArmor, Debian's kernel), what the
# tests drive besides the project's own packages (criu, podman with uidmap's newuidmap), rsync for
# the guest's copy of the checkout, git for the Makefile's `git rev-parse`, kmod so the kernel
# loads 9p, overlay, veth and netfilter modules on demand.
# SELinux's policy and tools are there too, inert unless the kernel is booted with SELinux as
# its LSM (vm/run.sh with VM_LSM=selinux): one image serves both lanes.
GUEST_PACKAGES="linux-image-amd64 systemd-sysv udev dbus apparmor apparmor-utils criu podman uidmap rsync git kmod
ca-certificates xz-utils selinux-basics selinux-policy-default"

key=$( { cat "$0"; find "$here/image" -type f | LC_ALL=C sort | xargs cat;
         echo "$DEB_PACKAGES"; echo "$PIP_PACKAGES"; } | sha256sum | cut -c1-16)
out=$cache/$key
if [ -f "$out/.done" ]; then
    touch "$out/.done" 2>/dev/null || true   # its last use: the cleanup below keeps the newest
    echo "$out"
    exit 0
fi

log() { echo "vm/build-image: $*" >&2; }
[ "$(id -u)" = 0 ] || { log "needs root"; exit 1; }
for tool in debootstrap mkfs.ext4 unshare $python; do
    command -v $tool >/dev/null || { log "$tool is missing (make vm-deps installs it)"; exit 1; }
done

# The Debian mirror is the host's own (the only network some machines have): the first
# bookworm entry of its apt sources, in the one-line or the deb822 format. The other bookworm
# suites there (-updates, -security) go into the guest's sources too, so the guest gets the same
# package versions as the host.
apt_sources() {
    $python - /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources <<'EOF'
import re, sys
entries = []  # (uri, suite, components)
for path in sys.argv[1:]:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in re.split(r"\n\s*\n", text):
            f = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, v = line.split(":", 1)
                f[k.strip().lower()] = v.split()
            if "deb" not in f.get("types", []) or f.get("enabled", ["yes"])[0] == "no":
                continue
            for uri in f.get("uris", []):
                for suite in f.get("suites", []):
                    entries.append((uri, suite, f.get("components", ["main"])))
    else:
        for line in text.splitlines():
            w = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(w) >= 3 and w[0] == "deb":
                entries.append((w[1], w[2], w[3:] or ["main"]))
for uri, suite, comps in entries:
    if suite.split("-")[0] == "bookworm" and "main" in comps:
        print(uri, suite)
EOF
}
sources=$(apt_sources)
mirror=$(awk '$2 == "bookworm" { print $1; exit }' <<<"$sources")
[ -n "$mirror" ] || { log "no bookworm entry in the host's apt sources"; exit 1; }

mkdir -p "$cache"
# One build at a time (two lanes started together wait for the first one's image).
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/.done" ]; then
    touch "$out/.done" 2>/dev/null || true   # its last use: the cleanup below keeps the newest
    echo "$out"
    exit 0
fi
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
t0=$(date +%s)

log "debootstrap bookworm from the host's mirror"
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
t1=$(date +%s)

# apt inside the chroot: the host's bookworm suites; the mirror may be a snapshot whose Release
# files are past their Valid-Until date, as the host's own apt is told (the guest never fetches).
awk '{ print "deb " $1 " " $2 " main" }' <<<"$sources" >"$root/etc/apt/sources.list"
printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/99pyrunc-vm"
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"   # no daemon starts in the chroot
chmod 755 "$root/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$root/etc/resolv.conf"

log "installing the guest's packages"
# A private mount namespace: /proc, /sys and /dev of the chroot vanish with it, whatever happens.
# Recommends stay out, so the guest holds exactly the listed packages and their dependencies
# (docker.io's recommended cgroupfs-mount would mount v1 hierarchies at boot).
# shellcheck disable=SC2086
unshare --mount --propagation private /bin/sh -ec '
    r=$1; shift
    mount -t proc proc "$r/proc"; mount -t sysfs sys "$r/sys"; mount --rbind /dev "$r/dev"
    chroot "$r" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get install -y -qq --no-install-recommends "$@" </dev/null
    chroot "$r" apt-get clean
' sh "$root" $GUEST_PACKAGES $DEB_PACKAGES >"$work/install.log" 2>&1 \
    || { tail -40 "$work/install.log" >&2; exit 1; }
rm -f "$root/usr/sbin/policy-rc.d" "$root/etc/resolv.conf"
t2=$(date +%s)

log "pip wheelhouse of $PIP_PACKAGES"
# Made on the host with Debian's python3 (the guest's interpreter, so the same wheel tags); the
# guest's pip reads only it (/etc/pip.conf: no index), so `make install` works offline there.
$python -m venv "$work/pipvenv"
"$work/pipvenv/bin/pip" download -q --disable-pip-version-check --only-binary=:all: \
    -d "$root/opt/pyrunc-wheels" $PIP_PACKAGES >"$work/pip.log" 2>&1 \
    || { tail -20 "$work/pip.log" >&2; exit 1; }
printf '[global]\nno-index = true\nfind-links = /opt/pyrunc-wheels\n' >"$root/etc/pip.conf"

log "configuring the guest"
cp -r "$here/image/." "$root/"
echo pyrunc-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 pyrunc-vm\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf '/dev/vda / ext4 rw,errors=remount-ro 0 1\n' >"$root/etc/fstab"
: >"$root/etc/machine-id"         # a fresh one on each boot, as for a cloned image
chroot "$root" passwd -d root >/dev/null   # `make vm-run` debugging: root logs in on ttyS0
# The driver unit runs the command; the engine tests start their own containerd and dockerd and
# refuse to run beside another Docker daemon (its docker0 bridge), so the packaged ones stay off.
# Timers that would compete with the suite for the two emulated CPUs are off too.
chroot "$root" systemctl -q enable pyrunc-vm.service
chroot "$root" systemctl -q disable docker.service docker.socket containerd.service 2>/dev/null || true
chroot "$root" systemctl -q mask apt-daily.timer apt-daily-upgrade.timer man-db.timer \
    e2scrub_all.timer fstrim.timer systemd-tmpfiles-clean.timer 2>/dev/null || true

t_label0=$(date +%s)
log "SELinux: permissive, the filesystem labelled"
# For VM_LSM=selinux boots (security=selinux): systemd loads the policy named here. Permissive,
# so a denial the stock policy has for the lane's own driver (a script run from a 9p share) is
# logged, not enforced; label transitions (what the tests check) happen all the same. Every
# file is labelled now, with setfiles in the chroot (it labels directories and symlinks through
# /proc/self/fd, hence the chroot's own /proc, left out of the walk), checked against the
# policy, and mkfs.ext4 -d copies the labels into the image with the other xattrs: no
# autorelabel at boot, which under TCG would take minutes.
printf 'SELINUX=permissive\nSELINUXTYPE=default\n' >"$root/etc/selinux/config"
policy=$(ls "$root"/etc/selinux/default/policy/policy.* | sort -V | tail -1)
unshare --mount --propagation private /bin/sh -ec '
    mount -t proc proc "$1/proc"
    chroot "$1" setfiles -F -e /proc -c "$2" /etc/selinux/default/contexts/files/file_contexts /
' sh "$root" "${policy#"$root"}" >"$work/setfiles.log" 2>&1 || { tail -20 "$work/setfiles.log" >&2; exit 1; }
t_label=$(date +%s)

mkdir -p "$work/out"
kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -1)
cp "$kernel" "$work/out/vmlinuz"
cp "$root/boot/initrd.img-${kernel##*/vmlinuz-}" "$work/out/initrd.img"

log "ext4 image"
# The filesystem is made from the directory itself (mkfs.ext4 -d), so no loop device and no
# mount is needed; it is sparse, and the guest gets ~8 GiB free for images, containers, the venv.
used_mb=$(du -sm "$root" | cut -f1)
truncate -s $(( used_mb + 8192 ))M "$work/out/disk.img"
mkfs.ext4 -q -L pyrunc-vm -d "$root" "$work/out/disk.img" >"$work/mkfs.log" 2>&1 \
    || { cat "$work/mkfs.log" >&2; exit 1; }
t3=$(date +%s)
printf 'debootstrap %ss, packages+wheels %ss, SELinux labels %ss, image %ss, total %ss\n' \
    $((t1 - t0)) $((t2 - t1)) $((t_label - t_label0)) $((t3 - t2)) $((t3 - t0)) >"$work/out/build-times"
log "built in $((t3 - t0)) s: $(cat "$work/out/build-times")"

touch "$work/out/.done"
rm -rf "$out"
mv "$work/out" "$out"
# The three images used last are kept (they are several GiB each, sparse), so lanes of branches
# with different recipes do not rebuild each other's; builds killed outright left their build.*
# directories: nothing else builds while we hold the lock.
for old in "$cache"/build.*/; do
    old=${old%/}
    if [ -d "$old" ] && [ "$old" != "$work" ]; then rm -rf "$old"; fi
done
ls -1t "$cache"/*/.done 2>/dev/null | tail -n +4 | while read -r done; do
    old=${done%/.done}
    if [ "$old" != "$out" ]; then rm -rf "$old"; fi
done
echo "$out"
