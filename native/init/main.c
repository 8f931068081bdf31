/* pyrunc-init: the only code that runs inside a container's namespaces.
 *
 * Usage: pyrunc-init PLANFD SYNCFD.  It reads the whole plan (pyrunc.plan), then executes its
 * operations in order.  Operations before CLONE run in this first stage; CLONE creates the
 * container process, which runs the rest.  All decisions were taken by pyrunc before the plan was
 * written: this program only carries them out, and reports failures on SYNCFD. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init.h"
#include "plan_ops.h"

struct maps {
    const struct plan_arg *uid_map, *gid_map, *setgroups;
    const struct plan_rec *uid_exec, *gid_exec; /* UID_MAP_EXEC, GID_MAP_EXEC */
    int dumpable;                               /* MAPS_DUMPABLE */
};

/* UID_MAP_EXEC, GID_MAP_EXEC: run the mapping tool (newuidmap, newgidmap) as
 * "TOOL PID ARGS...", with an empty environment, and wait for it. */
static void run_map_tool(const struct plan_rec *r, pid_t pid)
{
    char pidbuf[16];
    char *argv[64];
    uint32_t n = r->argc;
    if (n < 1 || n > 60)
        die("plan: %s needs 1 to 60 arguments", plan_op_name(r->op));
    snprintf(pidbuf, sizeof(pidbuf), "%d", pid);
    argv[0] = (char *)arg_str(r, 0);
    argv[1] = pidbuf;
    for (uint32_t i = 1; i < n; i++)
        argv[i + 1] = (char *)arg_str(r, i);
    argv[n + 1] = NULL;
    pid_t child = fork();
    if (child < 0)
        die_errno("fork %s", argv[0]);
    if (child == 0) {
        char *envp[] = { NULL };
        execve(argv[0], argv, envp);
        _exit(127);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            die_errno("wait for %s", argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("%s %s failed (status 0x%x): see its message above", argv[0], pidbuf, status);
}

static void write_proc(pid_t pid, const char *file, const struct plan_arg *a)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    op_write(path, a->data, a->len);
}

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL

/* The kernel's struct clone_args (linux/sched.h clashes with glibc's sched.h). */
struct clone3_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

/* First stage: create the container process (inside cgroup2 directory cgroup_fd when it is not
 * -1), write its id maps, let it go, report its pid. */
static void do_clone(uint64_t flags, const struct maps *m, int cgroup_fd)
{
    int gate[2], dumped[2] = { -1, -1 };
    if (pipe2(gate, O_CLOEXEC) < 0)
        die_errno("pipe");
    if (m->dumpable && pipe2(dumped, O_CLOEXEC) < 0)
        die_errno("pipe");
    /* CLONE_PARENT: the exit signal is the first stage's own (SIGCHLD to pyrunc). */
    struct clone3_args args = { .flags = flags | CLONE_PARENT };
    if (cgroup_fd >= 0) {
        args.flags |= CLONE_INTO_CGROUP_FLAG;
        args.cgroup = (uint64_t)cgroup_fd;
    }
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid < 0)
        die_errno(cgroup_fd >= 0 ? "clone into the container's cgroup" : "clone");
    if (pid == 0) {
        char c;
        if (cgroup_fd >= 0)
            close(cgroup_fd);
        close(gate[1]);
        if (m->dumpable) {
            /* An unprivileged first stage may open this process' /proc files (setgroups,
             * uid_map, gid_map) only while it is dumpable, as runc's stage-1 makes itself
             * for the same reason; not a moment longer. */
            close(dumped[0]);
            if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || write(dumped[1], "1", 1) != 1)
                _exit(1);
            close(dumped[1]);
        }
        if (read(gate[0], &c, 1) != 1)
            _exit(1); /* the first stage failed and said so */
        close(gate[0]);
        if (m->dumpable && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
            die_errno("make the init non-dumpable again");
        return;
    }
    close(gate[0]);
    if (m->dumpable) {
        char c;
        close(dumped[1]);
        if (read(dumped[0], &c, 1) != 1)
            die("the container process died before its id maps were written");
        close(dumped[0]);
    }
    if (m->setgroups)
        write_proc(pid, "setgroups", m->setgroups);
    if (m->uid_exec)
        run_map_tool(m->uid_exec, pid);
    else if (m->uid_map)
        write_proc(pid, "uid_map", m->uid_map);
    if (m->gid_exec)
        run_map_tool(m->gid_exec, pid);
    else if (m->gid_map)
        write_proc(pid, "gid_map", m->gid_map);
    report(SYNC_PID, "%d", pid);
    if (write(gate[1], "1", 1) != 1)
        die_errno("release container process");
    _exit(0);
}

int main(int argc, char **argv)
{
    struct plan plan;
    struct maps maps = { 0 };
    int stage = 1;
    int cgroup_fd = -1;
    int cwd_refused = 0; /* CHDIR's early try was refused: the one after the switch retries */

    if (argc != 3) {
        fprintf(stderr, "pyrunc-init: this program is started by pyrunc, not by hand\n");
        return 2;
    }
    int plan_fd = atoi(argv[1]);
    sync_fd = atoi(argv[2]);
    if (fcntl(sync_fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl(plan_fd, F_SETFD, FD_CLOEXEC) < 0) {
        fprintf(stderr, "pyrunc-init: bad file descriptors\n");
        return 2;
    }
    /* Non-dumpable before anything else, for the process' whole life in the container (the
     * final execve makes the user's program dumpable again, as usual): once it has joined a
     * container's namespaces, a process in the container with the same uid (or
     * CAP_SYS_PTRACE in its own user namespace) could otherwise ptrace it or open its
     * /proc/PID/fd while it still holds the sync pipe, the console socket and host
     * capabilities (CVE-2016-9962).  Its /proc files belong to the host's root meanwhile. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        die_errno("make the init non-dumpable");
    plan_read(plan_fd, &plan);
    close(plan_fd);

    for (uint32_t i = 0; i < plan.count; i++) {
        const struct plan_rec *r = &plan.recs[i];
        switch (r->op) {
        case OP_SETNS: {
            int fd = open(arg_str(r, 1), O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                die_errno("open namespace %s", arg_str(r, 1));
            if (setns(fd, (int)arg_u64(r, 0)) < 0)
                die_errno("join namespace %s", arg_str(r, 1));
            close(fd);
            break;
        }
        case OP_UNSHARE:
            if (unshare((int)arg_u64(r, 0)) < 0)
                die_errno("unshare 0x%llx", (unsigned long long)arg_u64(r, 0));
            break;
        case OP_WRITE:
            op_write(arg_str(r, 0), r->args[1].data, r->args[1].len);
            break;
        case OP_CHECK_DIR:
            op_check_dir(arg_str(r, 0));
            break;
        case OP_PROC_WRITE:
            op_proc_write(arg_str(r, 0), r->args[1].data, r->args[1].len);
            break;
        case OP_UID_MAP:
            maps.uid_map = &r->args[0];
            break;
        case OP_GID_MAP:
            maps.gid_map = &r->args[0];
            break;
        case OP_SETGROUPS:
            maps.setgroups = &r->args[0];
            break;
        case OP_UID_MAP_EXEC:
            maps.uid_exec = r;
            break;
        case OP_GID_MAP_EXEC:
            maps.gid_exec = r;
            break;
        case OP_MAPS_DUMPABLE:
            maps.dumpable = 1;
            break;
        case OP_CGROUP_JOIN: {
            int fd = open(arg_str(r, 0), O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "0", 1) != 1)
                die_errno("join cgroup %s", arg_str(r, 0));
            close(fd);
            break;
        }
        case OP_CGROUP_CLONE_INTO:
            if (cgroup_fd >= 0)
                close(cgroup_fd);
            cgroup_fd = open(arg_str(r, 0), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (cgroup_fd < 0)
                die_errno("open cgroup %s", arg_str(r, 0));
            break;
        case OP_CLONE:
            if (stage != 1)
                die("plan: a second CLONE");
            do_clone(arg_u64(r, 0), &maps, cgroup_fd);
            stage = 2;
            break;
        case OP_MOUNT_RAW:
            if (mount(*arg_str(r, 0) ? arg_str(r, 0) : NULL, arg_str(r, 1),
                      *arg_str(r, 2) ? arg_str(r, 2) : NULL, (unsigned long)arg_u64(r, 3),
                      *arg_str(r, 4) ? arg_str(r, 4) : NULL) < 0)
                die_errno("mount %s on %s", arg_str(r, 0), arg_str(r, 1));
            break;
        case OP_UMOUNT:
            if (umount2(arg_str(r, 0), (int)arg_u64(r, 1)) < 0)
                die_errno("unmount %s", arg_str(r, 0));
            break;
        case OP_ROOT:
            set_root(arg_str(r, 0));
            break;
        case OP_MKDIRS:
            mkdirs_in_root(arg_str(r, 0), (unsigned)arg_u64(r, 1));
            break;
        case OP_MKFILE:
            mkfile_in_root(arg_str(r, 0), (unsigned)arg_u64(r, 1));
            break;
        case OP_MOUNT:
            op_mount(arg_str(r, 0), arg_str(r, 1), arg_str(r, 2), (unsigned long)arg_u64(r, 3),
                     arg_str(r, 4));
            break;
        case OP_MOUNT_SETATTR:
            op_mount_setattr(arg_str(r, 0), arg_u64(r, 1), arg_u64(r, 2), arg_u64(r, 3));
            break;
        case OP_PROPAGATE:
            op_propagate(arg_str(r, 0), (unsigned long)arg_u64(r, 1));
            break;
        case OP_MKNOD:
            op_mknod(arg_str(r, 0), (unsigned)arg_u64(r, 1), arg_u64(r, 2),
                     (unsigned)arg_u64(r, 3), (unsigned)arg_u64(r, 4));
            break;
        case OP_SYMLINK:
            op_symlink(arg_str(r, 0), arg_str(r, 1));
            break;
        case OP_PIVOT_ROOT:
            op_pivot_root();
            break;
        case OP_MOVE_ROOT:
            op_move_root();
            break;
        case OP_CHROOT:
            op_chroot();
            break;
        case OP_REOPEN_DEVNULL:
            op_reopen_devnull();
            break;
        case OP_MASK:
            op_mask(arg_str(r, 0));
            break;
        case OP_READONLY:
            op_readonly(arg_str(r, 0));
            break;
        case OP_REMOUNT_RO:
            op_remount_ro(arg_str(r, 0));
            break;
        case OP_SETHOSTNAME:
            if (sethostname(arg_str(r, 0), r->args[0].len) < 0)
                die_errno("sethostname");
            break;
        case OP_SETDOMAINNAME:
            if (setdomainname(arg_str(r, 0), r->args[0].len) < 0)
                die_errno("setdomainname");
            break;
        case OP_RLIMIT: {
            struct rlimit rl = { .rlim_cur = arg_u64(r, 1), .rlim_max = arg_u64(r, 2) };
            if (setrlimit((int)arg_u64(r, 0), &rl) < 0)
                die_errno("setrlimit %d (soft %llu, hard %llu)", (int)arg_u64(r, 0),
                          (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
            break;
        }
        case OP_CHDIR: {
            uint64_t mode = arg_u64(r, 1);
            if (mode == 2 && !cwd_refused)
                break;
            if (chdir(arg_str(r, 0)) == 0)
                break;
            if (mode == 1 && (errno == EACCES || errno == EPERM)) {
                cwd_refused = 1;
                break;
            }
            die_errno("chdir to cwd %s", arg_str(r, 0));
        }
        case OP_UMASK:
            umask((mode_t)arg_u64(r, 0));
            break;
        case OP_CAP_BOUNDING:
            op_cap_bounding(arg_u64(r, 0));
            break;
        case OP_USER:
            op_user(r);
            break;
        case OP_CHOWN_STDIO:
            op_chown_stdio((unsigned)arg_u64(r, 0));
            break;
        case OP_CAPS:
            op_caps(arg_u64(r, 0), arg_u64(r, 1), arg_u64(r, 2), arg_u64(r, 3));
            break;
        case OP_NO_NEW_PRIVS:
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                die_errno("set no_new_privs");
            break;
        case OP_SECCOMP:
            op_seccomp(arg_u64(r, 0), &r->args[1]);
            break;
        case OP_RESOLVE_EXEC:
            op_resolve_exec(arg_str(r, 0), arg_str(r, 1));
            break;
        case OP_READY:
            report_text(SYNC_READY, "");
            close(sync_fd);
            sync_fd = -1;
            break;
        case OP_WAIT_FIFO:
            op_wait_fifo((int)arg_u64(r, 0));
            break;
        case OP_EXEC:
            op_exec(r);
        case OP_SETSID:
            if (setsid() < 0)
                die_errno("setsid");
            break;
        case OP_CONSOLE:
            op_console((int)arg_u64(r, 0), (int)arg_u64(r, 1));
            break;
        case OP_CONSOLE_SIZE: {
            struct winsize ws = { .ws_row = (unsigned short)arg_u64(r, 0),
                                  .ws_col = (unsigned short)arg_u64(r, 1) };
            if (ioctl(0, TIOCSWINSZ, &ws) < 0)
                die_errno("set the terminal's size");
            break;
        }
        case OP_PDEATHSIG:
            if (prctl(PR_SET_PDEATHSIG, (unsigned long)arg_u64(r, 0), 0, 0, 0) < 0)
                die_errno("set parent death signal");
            break;
        case OP_MOUNT_TMPCOPYUP:
            op_mount_tmpcopyup(arg_str(r, 0), arg_str(r, 1), arg_str(r, 2),
                               (unsigned long)arg_u64(r, 3), arg_str(r, 4));
            break;
        case OP_IDMAP_TREE:
            op_idmap_tree(arg_u64(r, 0), arg_str(r, 1), arg_u64(r, 2), &r->args[3], &r->args[4]);
            break;
        case OP_OPEN_TREE:
            op_open_tree(arg_u64(r, 0), arg_str(r, 1), arg_u64(r, 2));
            break;
        case OP_MOUNT_TREE:
            op_mount_tree(arg_u64(r, 0), arg_str(r, 1));
            break;
        case OP_IOPRIO:
            op_ioprio(arg_u64(r, 0));
            break;
        case OP_SCHED_ATTR:
            op_sched_attr(&r->args[0]);
            break;
        case OP_CPU_AFFINITY:
            op_cpu_affinity(&r->args[0]);
            break;
        case OP_MEMPOLICY:
            op_mempolicy(arg_u64(r, 0), &r->args[1], arg_str(r, 2));
            break;
        case OP_NETDEV_ADDR:
            op_netdev_addr(r);
            break;
        case OP_NETDEV_UP:
            op_netdev_up(arg_u64(r, 0), arg_str(r, 1));
            break;
        case OP_HOOK_STATE:
            op_hook_state((int)arg_u64(r, 0), (int)arg_u64(r, 1));
            break;
        case OP_HOOK:
            op_hook(r);
            break;
        case OP_WAIT_ACK: {
            char c;
            ssize_t n;
            do
                n = read((int)arg_u64(r, 0), &c, 1);
            while (n < 0 && errno == EINTR);
            if (n != 1)
                die("pyrunc went away before acknowledging");
            close((int)arg_u64(r, 0));
            break;
        }
        case OP_SESSION_KEYRING:
            /* keyctl(KEYCTL_JOIN_SESSION_KEYRING): no libkeyutils in a static init. */
            if (syscall(SYS_keyctl, 1, arg_str(r, 0), 0, 0, 0) < 0 && errno != ENOSYS)
                die_errno("join session keyring %s", arg_str(r, 0));
            break;
        case OP_PERSONALITY:
            if (personality((unsigned long)arg_u64(r, 0)) < 0)
                die_errno("personality");
            break;
        default:
            die("plan: operation %s is not handled", plan_op_name(r->op));
        }
    }
    die("plan ended without EXEC");
}
