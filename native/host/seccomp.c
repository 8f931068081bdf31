/* A thin binding to libseccomp for pyrunc's seccomp compiler (pyrunc/seccomp/compile.py).
 *
 * No decisions live here: Python validates the OCI profile, turns action, operator, architecture
 * and flag names into numbers, and calls these one-liners.  libseccomp builds the BPF program
 * (no hand-written BPF anywhere); Python exports it into a memfd and keeps the bytes.  Every call
 * returns libseccomp's own result: 0 or a negative errno. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

void *pyrunc_seccomp_init(uint32_t def_action)
{
    return seccomp_init(def_action);
}

void pyrunc_seccomp_release(void *ctx)
{
    seccomp_release(ctx);
}

int pyrunc_seccomp_arch_add(void *ctx, uint32_t arch_token)
{
    return seccomp_arch_add(ctx, arch_token);
}

int pyrunc_seccomp_arch_remove(void *ctx, uint32_t arch_token)
{
    return seccomp_arch_remove(ctx, arch_token);
}

/* Moves src's architectures and rules into dst; src is released on success. */
int pyrunc_seccomp_merge(void *dst, void *src)
{
    return seccomp_merge(dst, src);
}

int pyrunc_seccomp_attr_set(void *ctx, int attr, uint32_t value)
{
    return seccomp_attr_set(ctx, (enum scmp_filter_attr)attr, value);
}

int pyrunc_seccomp_resolve_name(const char *name)
{
    return seccomp_syscall_resolve_name(name);
}

/* One rule: the n comparisons (n <= 6, distinct argument indexes) must all match. */
int pyrunc_seccomp_rule_add(void *ctx, uint32_t action, int syscall_nr, unsigned int n,
                            const unsigned int *index, const int *op,
                            const uint64_t *datum_a, const uint64_t *datum_b)
{
    struct scmp_arg_cmp cmp[6];
    unsigned int i;

    if (n > 6)
        return -EINVAL;
    for (i = 0; i < n; i++) {
        cmp[i].arg = index[i];
        cmp[i].op = (enum scmp_compare)op[i];
        cmp[i].datum_a = datum_a[i];
        cmp[i].datum_b = datum_b[i];
    }
    return seccomp_rule_add_array(ctx, action, syscall_nr, n, cmp);
}

int pyrunc_seccomp_export_bpf(void *ctx, int fd)
{
    return seccomp_export_bpf(ctx, fd);
}

uint32_t pyrunc_seccomp_arch_native(void)
{
    return seccomp_arch_native();
}

int pyrunc_seccomp_version(unsigned int *major, unsigned int *minor, unsigned int *micro)
{
    const struct scmp_version *v = seccomp_version();

    if (v == NULL)
        return -ENOSYS;
    *major = v->major;
    *minor = v->minor;
    *micro = v->micro;
    return 0;
}

/* Whether the running kernel knows these SECCOMP_FILTER_FLAG_* bits: with a NULL program the
 * kernel checks the flags first (EINVAL when unknown) and then fails to read the program
 * (EFAULT), so nothing is ever installed.  Returns the errno the kernel gave. */
int pyrunc_seccomp_probe_flags(unsigned int flags)
{
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, NULL) == 0)
        return 0;
    return errno;
}

/* Test-only: install a compiled program in the calling process (no_new_privs, then seccomp(2)),
 * as pyrunc's init does.  Returns the listener fd (NEW_LISTENER), 0, or a negative errno. */
int pyrunc_seccomp_load(unsigned int flags, const void *bpf, size_t len)
{
    struct sock_fprog prog;
    long rc;

    if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
        len / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return -EINVAL;
    prog.len = (unsigned short)(len / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)bpf;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -errno;
    rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0)
        return -errno;
    return (int)rc;
}

/* Duplicate fd `targetfd` of the process behind `pidfd` into ours (close-on-exec): how the
 * runtime takes the listener fd the init reported.  Returns the new fd or a negative errno. */
int pyrunc_pidfd_getfd(int pidfd, int targetfd)
{
    long fd = syscall(__NR_pidfd_getfd, pidfd, targetfd, 0);

    return fd < 0 ? -errno : (int)fd;
}
