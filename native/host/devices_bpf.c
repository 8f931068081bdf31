/* The bpf(2) calls behind cgroup v2 device rules: Python builds the instructions
 * (pyrunc/cgroups/devices.py), these load, attach, list and detach them.
 * Every function returns >= 0 on success and -errno on failure. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pyrunc_bpf(int cmd, union bpf_attr *attr)
{
    long rc = syscall(__NR_bpf, cmd, attr, sizeof(*attr));
    return rc < 0 ? -errno : (int)rc;
}

/* A BPF_PROG_TYPE_CGROUP_DEVICE program; the verifier's log lands in log on failure. */
int pyrunc_bpf_load_devices(const char *insns, unsigned int insn_cnt, const char *license,
                            char *log, unsigned int log_size)
{
    union bpf_attr a;
    int fd;

    memset(&a, 0, sizeof(a));
    a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    a.insns = (unsigned long)insns;
    a.insn_cnt = insn_cnt;
    a.license = (unsigned long)license;
    fd = pyrunc_bpf(BPF_PROG_LOAD, &a);
    if (fd == -EACCES || fd == -EINVAL) {
        /* again, with the verifier's explanation */
        int err = fd;
        memset(&a, 0, sizeof(a));
        a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
        a.insns = (unsigned long)insns;
        a.insn_cnt = insn_cnt;
        a.license = (unsigned long)license;
        a.log_level = 1;
        a.log_buf = (unsigned long)log;
        a.log_size = log_size;
        fd = pyrunc_bpf(BPF_PROG_LOAD, &a);
        if (fd >= 0)
            return fd;
        return err;
    }
    return fd;
}

/* Attach with BPF_F_ALLOW_MULTI, so a replacement can be attached before the old one goes. */
int pyrunc_bpf_attach_devices(int prog_fd, int cgroup_fd)
{
    union bpf_attr a;

    memset(&a, 0, sizeof(a));
    a.target_fd = cgroup_fd;
    a.attach_bpf_fd = prog_fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    a.attach_flags = BPF_F_ALLOW_MULTI;
    return pyrunc_bpf(BPF_PROG_ATTACH, &a);
}

/* Ids of the device programs attached to this cgroup itself (not inherited ones). */
int pyrunc_bpf_query_devices(int cgroup_fd, unsigned int *ids, unsigned int *count)
{
    union bpf_attr a;
    int rc;

    memset(&a, 0, sizeof(a));
    a.query.target_fd = cgroup_fd;
    a.query.attach_type = BPF_CGROUP_DEVICE;
    a.query.prog_ids = (unsigned long)ids;
    a.query.prog_cnt = *count;
    rc = pyrunc_bpf(BPF_PROG_QUERY, &a);
    *count = rc < 0 ? 0 : a.query.prog_cnt;
    return rc;
}

int pyrunc_bpf_detach_devices_id(int cgroup_fd, unsigned int prog_id)
{
    union bpf_attr a;
    int prog_fd, rc;

    memset(&a, 0, sizeof(a));
    a.prog_id = prog_id;
    prog_fd = pyrunc_bpf(BPF_PROG_GET_FD_BY_ID, &a);
    if (prog_fd < 0)
        return prog_fd;
    memset(&a, 0, sizeof(a));
    a.target_fd = cgroup_fd;
    a.attach_bpf_fd = prog_fd;
    a.attach_type = BPF_CGROUP_DEVICE;
    rc = pyrunc_bpf(BPF_PROG_DETACH, &a);
    close(prog_fd);
    return rc;
}
