#!/usr/bin/env bash
# make demo: a busybox bundle built here, its config from `pyrunc spec`, run in the foreground.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/pyrunc-demo.XXXXXX)
trap 'pyrunc delete -f pyrunc-demo-$$ >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/rootfs/bin" "$dir/rootfs/proc" "$dir/rootfs/sys" "$dir/rootfs/dev" "$dir/rootfs/etc"
cp /bin/busybox "$dir/rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -sf busybox "$dir/rootfs/bin/$applet"; done
echo "root:x:0:0:root:/root:/bin/sh" > "$dir/rootfs/etc/passwd"
cd "$dir"
pyrunc spec
# Not a terminal (make may run without one), and a script that shows what isolation looks like.
"$here/.venv/bin/python" - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", """
echo "hostname:      $(hostname)"
echo "my pid:        $$ (PID 1 of its own pid namespace)"
echo "processes:     $(ps -o pid,comm | tail -n +2 | tr '\\n' ' ')"
echo "network:       $(ls /sys/class/net | tr '\\n' ' ')(a fresh network namespace)"
echo "root is ro:    $(touch /x 2>/dev/null && echo no || echo yes)"
echo "capabilities:  $(grep CapEff /proc/self/status)"
echo "mounts:"
cat /proc/self/mounts | sed 's/^/  /'
"""]
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "+ pyrunc run --bundle $dir pyrunc-demo-$$"
pyrunc run --bundle "$dir" "pyrunc-demo-$$"
