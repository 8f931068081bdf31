/* pyrunc-init: executes a plan (see pyrunc.plan, the one definition of the format). */
#pragma once
#include <stdint.h>
#include <stddef.h>

#include "plan_ops.h" /* generated from pyrunc.plan: OP_* and SYNC_* */

struct plan_arg {
    uint32_t len;
    char *data; /* NUL-terminated copy */
};

struct plan_rec {
    uint32_t op;
    uint32_t argc;
    struct plan_arg *args;
};

struct plan {
    uint32_t count;
    struct plan_rec *recs;
};

/* plan.c */
int plan_read(int fd, struct plan *p);
const char *plan_op_name(uint32_t op);
uint64_t arg_u64(const struct plan_rec *r, uint32_t i);
const char *arg_str(const struct plan_rec *r, uint32_t i);

/* report.c: messages to pyrunc over SYNCFD */
extern int sync_fd;
void report(char kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_text(char kind, const char *text);
void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_errno(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* fs.c: paths resolved inside the root directory */
extern int root_fd;
void set_root(const char *path);
int open_in_root(const char *path, int flags, int mode);
void mkdirs_in_root(const char *path, unsigned mode);
void mkfile_in_root(const char *path, unsigned mode);
int parent_in_root(const char *path, const char **base);
void fd_path(int fd, char *buf, size_t len);
int fd_is_procfs(int fd);
void check_not_led_into_proc(int fd, const char *target);
void path_printf(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void op_mount(const char *src, const char *target, const char *fstype, unsigned long flags,
              const char *data);
void op_mount_setattr(const char *target, uint64_t flags, uint64_t set, uint64_t clr);
void op_propagate(const char *target, unsigned long flags);
void op_mknod(const char *path, unsigned mode, uint64_t dev, unsigned uid, unsigned gid);
void op_symlink(const char *target, const char *link);
void op_pivot_root(void);
void op_move_root(void);
void op_chroot(void);
void op_reopen_devnull(void);
void op_mask(const char *path);
void op_readonly(const char *path);
void op_remount_ro(const char *path);
void op_mount_tmpcopyup(const char *src, const char *target, const char *fstype,
                        unsigned long flags, const char *data);
void op_idmap_tree(uint64_t slot, const char *src, uint64_t recursive,
                   const struct plan_arg *uid_map, const struct plan_arg *gid_map);
void op_mount_tree(uint64_t slot, const char *target);
void op_open_tree(uint64_t slot, const char *src, uint64_t recursive);
void op_proc_write(const char *path, const char *data, uint32_t len);
void op_check_dir(const char *path);

/* attrs.c: scheduling attributes */
void op_ioprio(uint64_t value);
void op_sched_attr(const struct plan_arg *attr);
void op_cpu_affinity(const struct plan_arg *mask);
void op_mempolicy(uint64_t mode, const struct plan_arg *mask, const char *what);

/* proc.c: the process' own attributes */
void op_write(const char *path, const char *data, uint32_t len);
void op_cap_bounding(uint64_t keep);
void op_user(const struct plan_rec *r);
void op_chown_stdio(unsigned uid);
void op_caps(uint64_t eff, uint64_t perm, uint64_t inh, uint64_t amb);
void op_seccomp(uint64_t flags, const struct plan_arg *prog);
void op_resolve_exec(const char *name, const char *path);
void op_wait_fifo(int fd);
void op_exec(const struct plan_rec *r) __attribute__((noreturn));
int cloexec_from(int first);
#define NR_OPEN_MAX (1 << 20) /* the kernel's NR_OPEN: no fd number reaches it */
void op_console(int sock, int bind_console);

/* net.c: linux.netDevices, once pyrunc has moved them into this network namespace */
void op_netdev_addr(const struct plan_rec *r);
void op_netdev_up(uint64_t index, const char *what);

/* hooks.c: createContainer and startContainer hooks, run inside the container */
void op_hook_state(int fd, int report_ready);
void op_hook(const struct plan_rec *r);
