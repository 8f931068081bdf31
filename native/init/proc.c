/* Operations on the process itself: credentials, capabilities, seccomp, the wait for `start`,
 * the console and the final execve. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "init.h"

static char exec_path[4096];

void op_write(const char *path, const char *data, uint32_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        die_errno("open %s", path);
    if (write(fd, data, len) != (ssize_t)len)
        die_errno("write %s", path);
    close(fd);
}

void op_cap_bounding(uint64_t keep)
{
    for (int cap = 0; cap < 64; cap++) {
        if (keep & (1ULL << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            die_errno("drop capability %d from the bounding set", cap);
    }
}

void op_chown_stdio(unsigned uid)
{
    struct stat null_st, st;
    int have_null = stat("/dev/null", &null_st) == 0;
    for (int fd = 0; fd < 3; fd++) {
        if (fstat(fd, &st) < 0)
            die_errno("stat fd %d", fd);
        if ((have_null && S_ISCHR(st.st_mode) && st.st_rdev == null_st.st_rdev) ||
            st.st_uid == uid)
            continue;
        /* EINVAL: its group is not mapped here; EPERM: its owner is not; EROFS: a read-only
         * /dev.  runc leaves such an fd alone rather than fail. */
        if (fchown(fd, uid, st.st_gid) < 0 && errno != EINVAL && errno != EPERM &&
            errno != EROFS)
            die_errno("chown fd %d to uid %u", fd, uid);
    }
}

void op_user(const struct plan_rec *r)
{
    uid_t uid = (uid_t)arg_u64(r, 0);
    gid_t gid = (gid_t)arg_u64(r, 1);
    if (arg_u64(r, 2)) {
        size_t n = r->argc - 3;
        gid_t *groups = calloc(n + 1, sizeof(gid_t));
        if (!groups)
            die("out of memory");
        for (size_t i = 0; i < n; i++)
            groups[i] = (gid_t)strtoul(arg_str(r, (uint32_t)(i + 3)), NULL, 10);
        if (setgroups(n, groups) < 0)
            die_errno("setgroups");
        free(groups);
    }
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
        die_errno("keep capabilities");
    if (setresgid(gid, gid, gid) < 0)
        die_errno("setgid %u", gid);
    if (setresuid(uid, uid, uid) < 0)
        die_errno("setuid %u", uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        die_errno("clear keep capabilities");
}

void op_caps(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb)
{
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
    struct __user_cap_data_struct data[2] = {
        { .effective = (uint32_t)eff, .permitted = (uint32_t)perm,
          .inheritable = (uint32_t)inh },
        { .effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32),
          .inheritable = (uint32_t)(inh >> 32) },
    };
    if (syscall(SYS_capset, &hdr, data) < 0)
        die_errno("capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        die_errno("clear ambient capabilities");
    for (int cap = 0; cap < 64; cap++)
        if ((amb & (1ULL << cap)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0)
            die_errno("raise ambient capability %d", cap);
}

void op_seccomp(uint64_t flags, const struct plan_arg *prog)
{
    struct sock_fprog fprog = {
        .len = (unsigned short)(prog->len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)prog->data,
    };
    if (prog->len % sizeof(struct sock_filter) || prog->len / sizeof(struct sock_filter) > 0xffff)
        die("seccomp program has a bad size %u", prog->len);
    long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, (unsigned)flags, &fprog);
    if (fd < 0)
        die_errno("load seccomp filter");
    if (flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)
        report(SYNC_LISTENER, "%ld", fd);
}

/* 0 when path is a regular file this process may execute, else the errno saying why (a
 * directory or another non-regular file is EACCES, as execve would say). */
static int exec_error(const char *path)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return errno;
    if (!S_ISREG(st.st_mode))
        return EACCES;
    return access(path, X_OK) == 0 ? 0 : errno;
}

void op_resolve_exec(const char *name, const char *path)
{
    if (strchr(name, '/')) {
        int err = exec_error(name);
        if (err) {
            errno = err;
            die_errno("exec: \"%s\": stat %s", name, name);
        }
        path_printf(exec_path, sizeof(exec_path), "%s", name);
        return;
    }
    const char *p = path;
    while (*p || p == path) {
        const char *end = strchrnul(p, ':');
        size_t n = (size_t)(end - p);
        int fits = n == 0 ? snprintf(exec_path, sizeof(exec_path), "./%s", name)
                          : snprintf(exec_path, sizeof(exec_path), "%.*s/%s", (int)n, p, name);
        /* a candidate longer than PATH_MAX cannot be executed: never try a cut one */
        if (fits > 0 && (size_t)fits < sizeof(exec_path) && exec_error(exec_path) == 0)
            return;
        if (!*end)
            break;
        p = end + 1;
    }
    exec_path[0] = '\0';
    die("exec: \"%s\": executable file not found in $PATH", name);
}

/* Wait for `start`: it opens the exec fifo for writing (which only succeeds while this open for
 * reading waits) and writes one byte.  A writer that leaves without its byte (a start killed
 * midway) is not a start: wait for the next one. */
void op_wait_fifo(int fd)
{
    char path[64], c;
    fd_path(fd, path, sizeof(path));
    for (;;) {
        int r = open(path, O_RDONLY | O_CLOEXEC);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die_errno("open exec fifo");
        }
        ssize_t n;
        do
            n = read(r, &c, 1);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            die_errno("read exec fifo");
        close(r);
        if (n == 1)
            break;
    }
    close(fd);
}

void op_exec(const struct plan_rec *r)
{
    uint64_t preserve = arg_u64(r, 0), argc = arg_u64(r, 1);
    uint32_t nstr = r->argc - 2;
    if (argc == 0 || argc > nstr)
        die("plan: EXEC needs at least one argument");
    char **argv = calloc(argc + 1, sizeof(char *));
    char **envp = calloc(nstr - argc + 1, sizeof(char *));
    if (!argv || !envp)
        die("out of memory");
    for (uint32_t i = 0; i < nstr; i++) {
        if (i < argc)
            argv[i] = r->args[i + 2].data;
        else
            envp[i - argc] = r->args[i + 2].data;
    }
    if (!exec_path[0])
        path_printf(exec_path, sizeof(exec_path), "%s", argv[0]);

    /* The user's process starts with default signal dispositions and an empty mask. */
    /* The raw syscalls: glibc's wrappers refuse signals 32 and 33 (its own), which a caller
     * may still have ignored or blocked. */
    struct { void *handler; unsigned long flags; void *restorer; uint64_t mask; } ksa = {
        .handler = SIG_DFL };
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(uint64_t));
    uint64_t none = 0;
    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(uint64_t));

    /* No fd of ours reaches the container: every fd but stdio and the preserved ones is closed
     * by execve itself.  SYNCFD (when still open) is among them, so its EOF tells pyrunc the
     * execve succeeded. */
    int keep = 3 + (int)preserve;
    if (sync_fd >= 0 && sync_fd < keep)
        die("sync fd collides with a preserved fd");
    if (cloexec_from(keep) < 0)
        die_errno("mark the fds above %d close-on-exec", keep - 1);
    execve(exec_path, argv, envp);
    die_errno("exec %s", exec_path);
}

static int set_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0)
        return errno == EBADF ? 0 : -1;
    return (fl & FD_CLOEXEC) || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == 0 ? 0 : -1;
}

/* Mark every fd >= first close-on-exec, so that nothing the runtime's caller leaked into it
 * reaches the container (CVE-2024-21626 class); -1 with errno on failure.  close_range first; a
 * seccomp profile loaded just before (noNewPrivileges) may refuse it, as Docker's does: then
 * the fds a procfs lists, and with no procfs every number up to the kernel's NR_OPEN. */
int cloexec_from(int first)
{
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0 && fd_is_procfs(dfd)) {
        DIR *d = fdopendir(dfd);
        if (!d)
            return -1;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            int fd = atoi(e->d_name);
            if (fd >= first && fd != dfd && set_cloexec(fd) < 0) {
                closedir(d);
                return -1;
            }
        }
        closedir(d);
        return 0;
    }
    if (dfd >= 0)
        close(dfd);
    for (int fd = first; fd < NR_OPEN_MAX; fd++)
        if (set_cloexec(fd) < 0)
            return -1;
    return 0;
}

static void send_fd(int sock, int fd, const char *name)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = { .iov_base = (void *)name, .iov_len = strlen(name) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                          .msg_controllen = sizeof(cbuf) };
    memset(cbuf, 0, sizeof(cbuf));
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    if (sendmsg(sock, &msg, 0) < 0)
        die_errno("send console fd");
}

/* /dev/console as a file of our own to bind the pty onto: never where an image's symlink (or
 * other non-file) leads (CVE-2025-52565).  Its directory must not lead into a procfs. */
static int console_target(void)
{
    const char *base;
    struct stat st;
    int dfd = parent_in_root("/dev/console", &base);
    check_not_led_into_proc(dfd, "/dev");
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) &&
        !S_ISCHR(st.st_mode) && unlinkat(dfd, base, 0) < 0)
        die_errno("remove /dev/console, which is no file");
    int f = openat(dfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (f < 0 && errno != EEXIST)
        die_errno("create /dev/console");
    if (f >= 0)
        close(f);
    int cfd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (cfd < 0 || fstat(cfd, &st) < 0)
        die_errno("open /dev/console");
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
        die("/dev/console is no file (mode 0%o): refusing to mount the terminal there",
            st.st_mode);
    close(dfd);
    return cfd;
}

void op_console(int sock, int bind_console)
{
    struct stat st;
    char ppath[64];
    /* Whatever an image made of /dev/ptmx, it is opened only once it is known to be the pty
     * multiplexer (5:2): an open of a device or FIFO may do something by itself. */
    int pfd = open_in_root("/dev/ptmx", O_PATH, 0);
    if (pfd < 0 || fstat(pfd, &st) < 0)
        die_errno("open /dev/ptmx");
    if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2)
        die("/dev/ptmx is not the pty multiplexer (5:2): refusing it");
    fd_path(pfd, ppath, sizeof(ppath));
    int master = open(ppath, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0)
        die_errno("open /dev/ptmx");
    close(pfd);
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0)
        die_errno("unlock pty");
    int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        die_errno("open pty slave");
    if (bind_console) {
        char src[64], dst[64];
        int cfd = console_target();
        fd_path(slave, src, sizeof(src));
        fd_path(cfd, dst, sizeof(dst));
        if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
            die_errno("bind pty onto /dev/console");
        close(cfd);
    }
    send_fd(sock, master, "/dev/ptmx");
    close(master);
    close(sock);
    for (int i = 0; i < 3; i++)
        if (dup2(slave, i) < 0)
            die_errno("dup pty to stdio");
    if (ioctl(0, TIOCSCTTY, 0) < 0)
        die_errno("set controlling terminal");
    close(slave);
}
