"""The host runtime reachable through /proc/PID/exe from inside (CVE-2019-5736,
GHSA-gxmr-w5mj-v8hh).

runc's `exec` joined the container as the host runc binary itself: a container process
opened /proc/PID/exe of it (or the image made the exec'd program `#!/proc/self/exe`, so the
runtime ran itself again inside), waited for the binary to stop running (ETXTBSY) and wrote
through the fd: the next runc on the host was the attacker's.  A process of the runtime's that
a container can see must run from a sealed copy, never from a host file.

A probe in the container (root, every capability, CAP_SYS_PTRACE included) scans /proc while
the test runs `exec`, `exec /proc/self/exe` and `exec` of a `#!/proc/self/exe` script, and
creates (without starting) a second container in the probe's pid namespace; for each
process it opens /proc/PID/exe (O_PATH, kept open for the retry after the process exits) and
tries to open it for writing and write one byte back unchanged.  The markers: the host binaries
(the runtime, the interpreter it runs on, pyrunc's init) hash the same afterwards, no exe the
probe reached is one of them (device and inode), and no open for writing succeeded.
"""
from __future__ import annotations

import os
import time

import pytest

from conformance.linux import skip_on_runc

from escape_helpers import compile_static, sha256

EXECS = 8
ALL_CAPS = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_ADMIN", "CAP_MKNOD", "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
]
PROBE_C = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#define MAXKEPT 512
static int kept[MAXKEPT], nkept;
static char keptname[MAXKEPT][64];
static FILE *rep;

static struct stat own;  /* the container's /bin/busybox: a writable fd to it would make the
                           test's own `exec true` fail with ETXTBSY */

/* Reopen the exe behind O_PATH fd `pfd` for writing and put its first byte back: proof of a
   writable exe that changes no content. */
static void try_write(int pfd, const char *what) {
    struct stat t;
    if (fstat(pfd, &t) < 0 || (t.st_dev == own.st_dev && t.st_ino == own.st_ino)) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", pfd);
    int w = open(path, O_WRONLY | O_CLOEXEC);
    if (w < 0) return;
    struct stat st = {0};
    if (fstat(w, &st) == 0)
        fprintf(rep, "OPENED-FOR-WRITE %lu %lu %s\n", (unsigned long)st.st_dev,
                (unsigned long)st.st_ino, what);
    int r = open(path, O_RDONLY | O_CLOEXEC);
    char c;
    if (r >= 0 && pread(r, &c, 1, 0) == 1 && pwrite(w, &c, 1, 0) == 1)
        fprintf(rep, "WROTE %lu %lu %s\n", (unsigned long)st.st_dev,
                (unsigned long)st.st_ino, what);
    if (r >= 0) close(r);
    close(w);
    fflush(rep);
}

int main(int argc, char **argv) {
    if (stat("/bin/busybox", &own) < 0) { perror("busybox"); return 1; }
    rep = fopen(argv[1], "w");
    if (!rep) { perror("report"); return 1; }
    setvbuf(rep, NULL, _IOLBF, 0);
    pid_t self = getpid();
    time_t end = time(NULL) + atoi(argv[3]);
    static unsigned long seen[1 << 16];  /* the exe's inode last reported for each pid */
    fprintf(rep, "READY\n");
    while (access(argv[2], F_OK) != 0 && time(NULL) < end) {
        DIR *d = opendir("/proc");
        struct dirent *e;
        while (d && (e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid == self || pid >= (1 << 16)) continue;
            char path[64];
            snprintf(path, sizeof path, "/proc/%d/exe", pid);
            int fd = open(path, O_PATH | O_CLOEXEC);
            if (fd < 0) continue;
            struct stat st;
            char link[256] = "";
            ssize_t n = readlink(path, link, sizeof link - 1);
            if (n > 0) link[n] = 0;
            try_write(fd, link);
            if (fstat(fd, &st) == 0 && seen[pid] != (unsigned long)st.st_ino) {
                seen[pid] = (unsigned long)st.st_ino;
                fprintf(rep, "SEEN %d %lu %lu %s\n", pid, (unsigned long)st.st_dev,
                        (unsigned long)st.st_ino, link);
                if (nkept < MAXKEPT) {
                    kept[nkept] = fd;
                    snprintf(keptname[nkept++], 64, "%d:%s", pid, link);
                    continue;
                }
            }
            close(fd);
        }
        if (d) closedir(d);
        for (int i = 0; i < nkept; i++)   /* after the process is gone: no ETXTBSY */
            try_write(kept[i], keptname[i]);
    }
    fprintf(rep, "DONE\n");
    return 0;
}
"""


def _host_binaries(runtime):
    paths = {runtime, os.path.realpath(runtime), "/usr/sbin/runc"}
    here = os.path.dirname(os.path.realpath(runtime))
    with open(runtime, "rb") as f:
        first = f.readline()
    if first.startswith(b"#!"):  # pyrunc's launcher: the interpreter it runs on
        paths.add(os.path.realpath(first[2:].split()[0].decode()))
    import pyrunc
    init = os.path.join(os.path.dirname(pyrunc.__file__), "libexec", "pyrunc-init")
    paths.add(init)
    paths.add(os.path.join(here, "runc"))
    return {p: sha256(p) for p in paths if os.path.isfile(p)}


def _join_pid_ns(pid):
    def edit(cfg):
        for ns in cfg["linux"]["namespaces"]:
            if ns["type"] == "pid":
                ns["path"] = f"/proc/{pid}/ns/pid"
    return edit


def _wait_for(path, word, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not (path.exists() and word in path.read_text()):
        assert time.monotonic() < deadline, f"{path} never said {word}"
        time.sleep(0.01)


@pytest.mark.parametrize("claim", ["writable", "reachable"])
def test_exec_never_exposes_a_host_binary(rt, runtime, tmp_path, claim):
    """writable: no exe of a process inside opens for writing as a host binary, none is
    written, the host binaries hash the same.  reachable: no exe is a host binary at all."""
    if claim == "reachable":
        skip_on_runc(runtime, "a copy of its binary for `runc init` (it runs from a read-only "
                              "bind mount of /usr/sbin/runc: /proc/PID/exe is the host's inode)")
    before = _host_binaries(runtime)
    ids = {(os.stat(p).st_dev, os.stat(p).st_ino): p for p in before}

    def edit(cfg):
        caps = cfg["process"]["capabilities"]
        for k in ("bounding", "effective", "permitted"):
            caps[k] = ALL_CAPS
        caps["ambient"] = []
        cfg["root"]["readonly"] = False
    b = rt.bundle(["/bin/probe", "/share/report", "/share/stop", "40"],
                  edit, share=True)
    compile_static(tmp_path, "probe", PROBE_C, b / "rootfs/bin/probe")
    (b / "rootfs/bin/evil").write_text("#!/proc/self/exe\n")
    os.chmod(b / "rootfs/bin/evil", 0o755)
    report = rt.share / "report"
    cid = rt.create(b)
    try:
        rt.ok("start", cid)
        _wait_for(report, "READY")
        for _ in range(EXECS):
            rt.ok("exec", cid, "true", timeout=20)
        for argv in (["/proc/self/exe"], ["/proc/self/exe", "init"], ["/bin/evil"],
                     ["/bin/evil", "init"]):
            rt("exec", cid, *argv, timeout=20)  # whatever it does, it must expose nothing
        # A created container waits in the probe's pid namespace: its init is the runtime's
        # for as long as it is not started.
        pid = rt.state(cid)["pid"]
        created = rt.create(rt.bundle(["true"], _join_pid_ns(pid)))
        time.sleep(0.3)
        rt.ok("delete", "--force", created)
        time.sleep(0.2)  # the probe's retry through its kept fds, after the processes left
    finally:
        (rt.share / "stop").write_text("")
    _wait_for(report, "DONE")
    rt.wait_stopped(cid)
    rt.ok("delete", cid)

    text = report.read_text()
    own = {(os.stat(p).st_dev, os.stat(p).st_ino)
           for p in (b / "rootfs/bin/busybox", b / "rootfs/bin/probe")}

    def lines(word):
        """(dev, ino, what) of the report's `word` lines (SEEN has a pid first)."""
        skip = 2 if word == "SEEN" else 1
        return [(int(f[skip]), int(f[skip + 1]), " ".join(f[skip + 2:])) for f in
                (line.split() for line in text.splitlines()) if f and f[0] == word]
    runtimes = [s for s in lines("SEEN") if s[:2] not in own]
    assert runtimes, f"the probe never caught a process of the runtime's:\n{text[:2000]}"
    opened = [s for s in lines("OPENED-FOR-WRITE") if s[:2] in ids]
    assert not opened, f"host binaries opened for writing through /proc/PID/exe: {opened}"
    reached = [s for s in lines("SEEN") if s[:2] in ids]
    assert claim != "reachable" or not reached, f"host binaries reachable: {reached}"
    wrote = {w for w in lines("WROTE") if w[:2] not in own}
    assert not wrote, f"an exe of the runtime's was written from inside: {wrote}"
    assert _host_binaries(runtime) == before, "a host binary changed"
