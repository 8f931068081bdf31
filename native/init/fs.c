/* Filesystem operations.  Every in-root path is resolved with openat2(RESOLVE_IN_ROOT) against
 * root_fd, and mounts target the resolved file descriptor (/proc/self/fd/N), so a symlink in the
 * image can never send a mount, mkdir or file creation outside the rootfs. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "init.h"

int root_fd = -1;

static int openat2_in(int dirfd, const char *path, uint64_t flags, uint64_t mode,
                      uint64_t resolve)
{
    struct open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && (errno == EAGAIN || errno == EINTR));
    return fd;
}

void set_root(const char *path)
{
    int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        die_errno("open root %s", path);
    if (root_fd >= 0)
        close(root_fd);
    root_fd = fd;
}

int open_in_root(const char *path, int flags, int mode)
{
    if (root_fd < 0)
        die("plan: in-root path %s before ROOT", path);
    return openat2_in(root_fd, path, (uint64_t)flags | O_CLOEXEC, (uint64_t)mode,
                      RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

void fd_path(int fd, char *buf, size_t len)
{
    path_printf(buf, len, "/proc/self/fd/%d", fd);
}

/* snprintf for a path: one that does not fit is an error, never a shorter path. */
void path_printf(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len)
        die("path too long (over %zu bytes)", len - 1);
}

/* Split path into its parent (opened in root, created if needed) and its last component. */
int parent_in_root(const char *path, const char **base)
{
    static char parent[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        *base = path;
        return open_in_root(".", O_PATH | O_DIRECTORY, 0);
    }
    size_t n = (size_t)(slash - path);
    if (n >= sizeof(parent))
        die("path too long: %s", path);
    memcpy(parent, path, n);
    parent[n] = '\0';
    *base = slash + 1;
    if (n == 0)
        return open_in_root("/", O_PATH | O_DIRECTORY, 0);
    char copy[4096];
    path_printf(copy, sizeof(copy), "%s", parent);
    mkdirs_in_root(copy, 0755);
    int fd = open_in_root(copy, O_PATH | O_DIRECTORY, 0);
    if (fd < 0)
        die_errno("open %s in rootfs", copy);
    return fd;
}

/* mkdir -p inside the root.  A dangling symlink on the way is followed the way the kernel
 * would inside the root (absolute targets from the rootfs, relative ones from the link's
 * directory) and the missing directories are created there: never outside. */
void mkdirs_in_root(const char *path, unsigned mode)
{
    char cur[4096], prefix[4096], next[4096];
    path_printf(cur, sizeof(cur), "%s", path);
    for (int hops = 0; hops < 40; hops++) {
        int fd = open_in_root(cur, O_PATH | O_DIRECTORY, 0);
        if (fd >= 0) {
            close(fd);
            return;
        }
        if (errno == ENOTDIR)
            die("mkdir %s in rootfs: not a directory", path);
        if (errno != ENOENT)
            die_errno("open %s in rootfs", path);
        int restarted = 0;
        prefix[0] = '\0';
        const char *p = cur;
        while (*p && !restarted) {
            while (*p == '/')
                p++;
            if (!*p)
                break;
            const char *end = strchr(p, '/');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            char comp[256];
            if (n >= sizeof(comp))
                die("mkdir %s in rootfs: name too long", path);
            memcpy(comp, p, n);
            comp[n] = '\0';
            p += n;
            char cand[4096];
            if ((size_t)snprintf(cand, sizeof(cand), "%s/%s", prefix, comp) >= sizeof(cand))
                die("mkdir %s in rootfs: path too long", path);
            fd = open_in_root(cand, O_PATH | O_DIRECTORY, 0);
            if (fd >= 0) {
                close(fd);
                path_printf(prefix, sizeof(prefix), "%s", cand);
                continue;
            }
            if (errno != ENOENT)
                die_errno("open %s in rootfs", cand);
            int pfd = open_in_root(*prefix ? prefix : "/", O_PATH | O_DIRECTORY, 0);
            if (pfd < 0)
                die_errno("open %s in rootfs", *prefix ? prefix : "/");
            char target[4096];
            ssize_t len = readlinkat(pfd, comp, target, sizeof(target) - 1);
            if (len >= 0) { /* a dangling symlink: go where it points, inside the root */
                target[len] = '\0';
                if ((size_t)snprintf(next, sizeof(next), "%s/%s/%s",
                                     target[0] == '/' ? "" : prefix, target, p) >= sizeof(next))
                    die("mkdir %s in rootfs: path too long", path);
                path_printf(cur, sizeof(cur), "%s", next);
                restarted = 1;
            } else if (mkdirat(pfd, comp, mode) < 0 && errno != EEXIST) {
                die_errno("mkdir %s in rootfs", cand);
            } else {
                path_printf(prefix, sizeof(prefix), "%s", cand);
            }
            close(pfd);
        }
        if (!restarted) {
            fd = open_in_root(path, O_PATH | O_DIRECTORY, 0);
            if (fd < 0)
                die_errno("open %s in rootfs", path);
            close(fd);
            return;
        }
    }
    die("mkdir %s in rootfs: too many levels of symbolic links", path);
}

/* Create an empty file in the root (parents too) if nothing is there.  A dangling symlink
 * is followed the way the kernel would inside the root (absolute targets from the rootfs,
 * relative ones from the link's directory) and the file is made where it points, as runc's
 * securejoin-based createIfNotExists does: never outside. */
static void mkfile_hops(const char *path, unsigned mode, int hops)
{
    if (hops > 40)
        die("create %s in rootfs: too many levels of symbolic links", path);
    int fd = open_in_root(path, O_PATH, 0);
    if (fd >= 0) {
        close(fd);
        return;
    }
    const char *base;
    int pfd = parent_in_root(path, &base);
    char target[4096], next[4096];
    ssize_t n = readlinkat(pfd, base, target, sizeof(target) - 1);
    if (n >= 0) {
        target[n] = '\0';
        if (target[0] == '/')
            path_printf(next, sizeof(next), "%s", target);
        else
            path_printf(next, sizeof(next), "%.*s/%s", base > path ? (int)(base - path - 1) : 0,
                        path, target);
        close(pfd);
        mkfile_hops(next, mode, hops + 1);
        return;
    }
    fd = openat(pfd, base, O_CREAT | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, (int)mode);
    if (fd < 0)
        die_errno("create %s in rootfs", path);
    close(fd);
    close(pfd);
}

void mkfile_in_root(const char *path, unsigned mode)
{
    mkfile_hops(path, mode, 0);
}

#define PROC_SUPER_MAGIC 0x9fa0
#define PROC_ROOT_INO 1

int fd_is_procfs(int fd)
{
    struct statfs sfs;
    if (fstatfs(fd, &sfs) < 0)
        die_errno("statfs");
    return sfs.f_type == PROC_SUPER_MAGIC;
}

static int names_proc(const char *path)
{
    return strncmp(path, "/proc", 5) == 0 && (path[5] == '\0' || path[5] == '/');
}

/* A mount target the plan names outside /proc may not land on a procfs through a symlink of
 * the image (see pyrunc.plan): a volume there would redirect the runtime's own writes. */
void check_not_led_into_proc(int fd, const char *target)
{
    if (!names_proc(target) && fd_is_procfs(fd))
        die("mount target %s resolves into /proc through a symlink: refusing to mount there",
            target);
}

static int target_fd(const char *target)
{
    int fd = open_in_root(target, O_PATH, 0);
    if (fd < 0)
        die_errno("open mount target %s in rootfs", target);
    check_not_led_into_proc(fd, target);
    return fd;
}

void op_check_dir(const char *path)
{
    struct stat st;
    int fd = open_in_root(path, O_PATH | O_NOFOLLOW, 0);
    if (fd < 0 || fstat(fd, &st) < 0)
        die_errno("open %s in rootfs", path);
    if (!S_ISDIR(st.st_mode))
        die("%s must be mounted on an ordinary directory (it is %s)", path,
            S_ISLNK(st.st_mode) ? "a symlink" : "no directory");
    close(fd);
}

void op_proc_write(const char *path, const char *data, uint32_t len)
{
    struct stat st;
    int proc = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (proc < 0)
        die_errno("open /proc to write %s", path);
    if (fstat(proc, &st) < 0)
        die_errno("stat /proc");
    if (!fd_is_procfs(proc) || st.st_ino != PROC_ROOT_INO)
        die("/proc is not the root of a procfs mount: refusing to write %s through it", path);
    /* procfs's own self and thread-self links may be followed: they stay beneath it */
    int fd = openat2_in(proc, path, O_WRONLY | O_CLOEXEC | O_NOCTTY, 0,
                        RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS);
    if (fd < 0)
        die_errno("open /proc/%s", path);
    if (write(fd, data, len) != (ssize_t)len)
        die_errno("write /proc/%s", path);
    close(fd);
    close(proc);
}

void op_setxattr(const char *path, const char *name, const char *value, uint32_t len)
{
    char p[64];
    int fd = open_in_root(path, O_PATH, 0);
    if (fd < 0)
        die_errno("open %s to set its %s", path, name);
    /* an O_PATH fd takes no fsetxattr: its /proc/self/fd link leads to the file itself */
    fd_path(fd, p, sizeof(p));
    if (setxattr(p, name, value, len, 0) < 0)
        die_errno("set %s of %s to %.*s", name, path, (int)len, value);
    close(fd);
}

static unsigned long locked_flags(const char *path)
{
    struct statvfs sv;
    unsigned long f = 0;
    if (statvfs(path, &sv) < 0)
        die_errno("statvfs %s", path);
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

static void mount_at_fd(int fd, const char *src, const char *target, const char *fstype,
                        unsigned long flags, const char *data)
{
    char path[64];
    fd_path(fd, path, sizeof(path));
    int rc = mount(*src ? src : NULL, path, *fstype ? fstype : NULL, flags, *data ? data : NULL);
    if (rc < 0 && errno == EPERM && (flags & (MS_REMOUNT | MS_BIND)) == (MS_REMOUNT | MS_BIND)) {
        /* In a user namespace the flags of a mount inherited from a more privileged one are
         * locked: keep them (the plan's contract for MOUNT, as runc does). */
        flags |= locked_flags(path);
        rc = mount(NULL, path, NULL, flags, *data ? data : NULL);
    }
    if (rc < 0) /* data may hold credentials (cifs, nfs...): never in a message */
        die_errno("mount %s to %s (type %s, flags 0x%lx)", src, target, fstype, flags);
}

void op_mount(const char *src, const char *target, const char *fstype, unsigned long flags,
              const char *data)
{
    int fd = target_fd(target);
    mount_at_fd(fd, src, target, fstype, flags, data);
    close(fd);
}

static void copy_times(int fd, const struct stat *st)
{
    struct timespec ts[2] = { st->st_atim, st->st_mtim };
    futimens(fd, ts);
}

static void copy_file(int sfd, int dfd, const char *name, const struct stat *st)
{
    int in = openat(sfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (in < 0)
        die_errno("tmpcopyup: open %s", name);
    int out = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0)
        die_errno("tmpcopyup: create %s", name);
    char buf[65536];
    for (;;) {
        ssize_t n = read(in, buf, sizeof(buf));
        if (n < 0)
            die_errno("tmpcopyup: read %s", name);
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0)
                die_errno("tmpcopyup: write %s", name);
            off += w;
        }
    }
    if (fchown(out, st->st_uid, st->st_gid) < 0 || fchmod(out, st->st_mode & 07777) < 0)
        die_errno("tmpcopyup: set owner and mode of %s", name);
    copy_times(out, st);
    close(in);
    close(out);
}

/* Copy the contents of directory sfd into directory dfd: files, directories, symlinks and
 * special files with their owners, modes and times.  Nothing is followed: both fds are the
 * container's own directories and every entry is opened relative to them with O_NOFOLLOW. */
static void copy_tree(int sfd, int dfd, int depth)
{
    if (depth > 64)
        die("tmpcopyup: directory tree too deep");
    int lfd = dup(sfd);
    if (lfd < 0)
        die_errno("tmpcopyup: dup");
    DIR *d = fdopendir(lfd);
    if (!d)
        die_errno("tmpcopyup: read directory");
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        struct stat st;
        if (!strcmp(n, ".") || !strcmp(n, ".."))
            continue;
        if (fstatat(sfd, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
            die_errno("tmpcopyup: stat %s", n);
        if (S_ISDIR(st.st_mode)) {
            if (mkdirat(dfd, n, 0700) < 0)
                die_errno("tmpcopyup: mkdir %s", n);
            int s2 = openat(sfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            int d2 = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (s2 < 0 || d2 < 0)
                die_errno("tmpcopyup: open directory %s", n);
            copy_tree(s2, d2, depth + 1);
            if (fchown(d2, st.st_uid, st.st_gid) < 0 || fchmod(d2, st.st_mode & 07777) < 0)
                die_errno("tmpcopyup: set owner and mode of %s", n);
            copy_times(d2, &st);
            close(s2);
            close(d2);
        } else if (S_ISREG(st.st_mode)) {
            copy_file(sfd, dfd, n, &st);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t len = readlinkat(sfd, n, target, sizeof(target) - 1);
            if (len < 0)
                die_errno("tmpcopyup: readlink %s", n);
            target[len] = '\0';
            if (symlinkat(target, dfd, n) < 0)
                die_errno("tmpcopyup: symlink %s", n);
            if (fchownat(dfd, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
                die_errno("tmpcopyup: chown %s", n);
        } else {
            if (mknodat(dfd, n, st.st_mode, st.st_rdev) < 0)
                die_errno("tmpcopyup: mknod %s", n);
            if (fchownat(dfd, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
                fchmodat(dfd, n, st.st_mode & 07777, 0) < 0)
                die_errno("tmpcopyup: set owner and mode of %s", n);
        }
    }
    closedir(d);
}

void op_mount_tmpcopyup(const char *src, const char *target, const char *fstype,
                        unsigned long flags, const char *data)
{
    int under = open_in_root(target, O_RDONLY | O_DIRECTORY, 0);
    if (under < 0)
        die_errno("open %s in rootfs for tmpcopyup", target);
    check_not_led_into_proc(under, target);
    mount_at_fd(under, src, target, fstype, flags, data);
    int top = open_in_root(target, O_RDONLY | O_DIRECTORY, 0); /* the new filesystem */
    if (top < 0)
        die_errno("open new mount %s", target);
    copy_tree(under, top, 0);
    close(top);
    close(under);
}

/* MAX_TREES: plan_ops.h, from pyrunc.plan.kernel, where the planner counts against it */
static int trees[MAX_TREES];

void op_open_tree(uint64_t slot, const char *src, uint64_t recursive)
{
    if (slot >= MAX_TREES || trees[slot])
        die("plan: detached mount slot %llu out of range or taken", (unsigned long long)slot);
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src,
                          OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
    if (fd < 0)
        die_errno("open_tree %s", src);
    trees[slot] = fd + 1;
}

static void write_file(const char *path, const struct plan_arg *a)
{
    op_write(path, a->data, a->len);
}

/* A user namespace with the given maps, as an fd: a short-lived child creates it, we write its
 * maps, keep a reference to its namespace and let it exit. */
static int userns_with_maps(const struct plan_arg *uid_map, const struct plan_arg *gid_map)
{
    int gate[2];
    char path[64];
    if (pipe2(gate, O_CLOEXEC) < 0)
        die_errno("pipe");
    pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL,
                               NULL, NULL);
    if (pid < 0)
        die_errno("clone a user namespace for an id-mapped mount");
    if (pid == 0) {
        char c;
        close(gate[1]);
        (void)!read(gate[0], &c, 1);
        _exit(0);
    }
    close(gate[0]);
    snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
    write_file(path, uid_map);
    snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
    write_file(path, gid_map);
    snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        die_errno("open %s", path);
    close(gate[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd;
}

void op_idmap_tree(uint64_t slot, const char *src, uint64_t recursive,
                   const struct plan_arg *uid_map, const struct plan_arg *gid_map)
{
    if (slot >= MAX_TREES || trees[slot])
        die("plan: detached mount slot %llu out of range or taken", (unsigned long long)slot);
    int userns = userns_with_maps(uid_map, gid_map);
    unsigned rec = (recursive & 1) ? AT_RECURSIVE : 0;
    unsigned map_rec = (recursive & 2) ? AT_RECURSIVE : 0;
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | rec);
    if (fd < 0)
        die_errno("open_tree %s", src);
    struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns };
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | map_rec, &attr, sizeof(attr)) < 0)
        die_errno("id-map mount of %s", src);
    close(userns);
    trees[slot] = fd + 1;
}

void op_mount_tree(uint64_t slot, const char *target)
{
    if (slot >= MAX_TREES || !trees[slot])
        die("plan: no detached mount in slot %llu", (unsigned long long)slot);
    int tfd = target_fd(target);
    if (syscall(SYS_move_mount, trees[slot] - 1, "", tfd, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        die_errno("attach id-mapped mount at %s", target);
    close(tfd);
    close(trees[slot] - 1);
    trees[slot] = 0;
}

void op_mount_setattr(const char *target, uint64_t flags, uint64_t set, uint64_t clr)
{
    struct mount_attr attr = { .attr_set = set, .attr_clr = clr };
    int fd = target_fd(target);
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH | (unsigned)flags, &attr,
                sizeof(attr)) < 0)
        die_errno("mount_setattr %s", target);
    close(fd);
}

void op_propagate(const char *target, unsigned long flags)
{
    char path[64];
    int fd = target_fd(target);
    fd_path(fd, path, sizeof(path));
    if (mount(NULL, path, NULL, flags, NULL) < 0)
        die_errno("set propagation of %s", target);
    close(fd);
}

void op_mknod(const char *path, unsigned mode, uint64_t dev, unsigned uid, unsigned gid)
{
    const char *base;
    int pfd = parent_in_root(path, &base);
    if (mknodat(pfd, base, mode, (dev_t)dev) < 0) {
        if (errno != EEXIST)
            die_errno("mknod %s", path);
    } else if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
        die_errno("chown %s", path);
    } else if (fchmodat(pfd, base, mode & 07777, 0) < 0) { /* the umask is not the config's */
        die_errno("chmod %s", path);
    }
    close(pfd);
}

void op_symlink(const char *target, const char *link)
{
    const char *base;
    int pfd = parent_in_root(link, &base);
    if (symlinkat(target, pfd, base) < 0 && errno != EEXIST)
        die_errno("symlink %s -> %s", link, target);
    close(pfd);
}

void op_pivot_root(void)
{
    int old_root = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (old_root < 0)
        die_errno("open old root");
    if (fchdir(root_fd) < 0)
        die_errno("chdir to rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        die_errno("pivot_root");
    /* The old root is now stacked on top of the new one.  Step into it (not the new root,
     * whose mounts keep their configured propagation) and keep its unmount from reaching the
     * host. */
    if (fchdir(old_root) < 0)
        die_errno("chdir to old root");
    close(old_root);
    if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        die_errno("make old root rslave");
    if (umount2(".", MNT_DETACH) < 0)
        die_errno("detach old root");
    if (chdir("/") < 0)
        die_errno("chdir /");
    set_root("/");
}

void op_move_root(void)
{
    if (fchdir(root_fd) < 0)
        die_errno("chdir to rootfs");
    if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
        die_errno("move rootfs to /");
    if (chroot(".") < 0)
        die_errno("chroot");
    if (chdir("/") < 0)
        die_errno("chdir /");
    set_root("/");
}

void op_chroot(void)
{
    if (fchdir(root_fd) < 0)
        die_errno("chdir to rootfs");
    if (chroot(".") < 0)
        die_errno("chroot");
    if (chdir("/") < 0)
        die_errno("chdir /");
    set_root("/");
}

/* /dev/null as the container sees it, checked to be the real character device 1:3 so that a
 * symlink or a replaced node cannot turn a mask into a bind of something else. */
static int verified_devnull(void)
{
    struct stat st;
    int fd = open_in_root("/dev/null", O_PATH, 0);
    if (fd < 0)
        die_errno("open /dev/null for masking");
    if (fstat(fd, &st) < 0)
        die_errno("stat /dev/null");
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
        die("/dev/null is not the null device (mode 0%o, rdev %u:%u): refusing to mask with it",
            st.st_mode, major(st.st_rdev), minor(st.st_rdev));
    return fd;
}

void op_reopen_devnull(void)
{
    struct stat st;
    int fd = open_in_root("/dev/null", O_PATH, 0);
    if (fd < 0)
        return; /* no /dev/null in the container: nothing to reopen */
    if (fstat(fd, &st) < 0 || !S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
        close(fd);
        return;
    }
    char path[64];
    fd_path(fd, path, sizeof(path));
    for (int i = 0; i < 3; i++) {
        struct stat s;
        int fl = fcntl(i, F_GETFL);
        if (fl < 0 || fstat(i, &s) < 0 || !S_ISCHR(s.st_mode) || s.st_rdev != st.st_rdev)
            continue;
        int nfd = open(path, (fl & O_ACCMODE) | O_CLOEXEC);
        if (nfd < 0)
            continue; /* no procfs to reopen it through: the fd stays as it was */
        if (dup2(nfd, i) < 0)
            die_errno("dup2 /dev/null onto fd %d", i);
        close(nfd);
    }
    close(fd);
}

void op_mask(const char *path, const char *data)
{
    struct stat st;
    char tpath[64], spath[64];
    int fd = open_in_root(path, O_PATH, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        die_errno("open masked path %s", path);
    }
    if (fstat(fd, &st) < 0)
        die_errno("stat %s", path);
    fd_path(fd, tpath, sizeof(tpath));
    if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", tpath, "tmpfs", MS_RDONLY, *data ? data : NULL) < 0)
            die_errno("mask %s", path);
    } else {
        int nfd = verified_devnull();
        fd_path(nfd, spath, sizeof(spath));
        if (mount(spath, tpath, NULL, MS_BIND, NULL) < 0)
            die_errno("mask %s", path);
        close(nfd);
    }
    close(fd);
}

static void remount_ro_fd(int fd, const char *path)
{
    char p[64];
    fd_path(fd, p, sizeof(p));
    unsigned long f = locked_flags(p);
    if (mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | f, NULL) < 0)
        die_errno("remount %s read-only", path);
}

void op_readonly(const char *path)
{
    char p[64];
    int fd = open_in_root(path, O_PATH, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return;
        die_errno("open read-only path %s", path);
    }
    fd_path(fd, p, sizeof(p));
    if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)
        die_errno("bind %s", path);
    close(fd);
    fd = target_fd(path); /* the new bind mount, not the one under it */
    remount_ro_fd(fd, path);
    close(fd);
}

void op_remount_ro(const char *path)
{
    int fd = target_fd(path);
    remount_ro_fd(fd, path);
    close(fd);
}
