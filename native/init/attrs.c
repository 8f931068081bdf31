/* Scheduling attributes of the container process: I/O priority, scheduler, CPU affinity.
 * pyrunc computes every value (including the packed struct sched_attr); this only calls. */
#define _GNU_SOURCE
#include <endian.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "init.h"

#define IOPRIO_WHO_PROCESS 1

void op_ioprio(uint64_t value)
{
    if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, (int)value) < 0)
        die_errno("ioprio_set 0x%llx", (unsigned long long)value);
}

void op_sched_attr(const struct plan_arg *attr)
{
    uint32_t size;
    /* The kernel reads as many bytes as the struct's size field says: it must be the op's. */
    if (attr->len < sizeof(size))
        die("plan: SCHED_ATTR is too short");
    memcpy(&size, attr->data, sizeof(size));
    if (le32toh(size) != attr->len)
        die("plan: SCHED_ATTR says %u bytes but holds %u", le32toh(size), attr->len);
    if (syscall(SYS_sched_setattr, 0, attr->data, 0) < 0)
        die_errno("sched_setattr");
}

void op_cpu_affinity(const struct plan_arg *mask)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    memcpy(&set, mask->data, mask->len < sizeof(set) ? mask->len : sizeof(set));
    if (sched_setaffinity(0, sizeof(set), &set) < 0)
        die_errno("sched_setaffinity");
}

/* linux.memoryPolicy: the nodemask comes as little-endian bits (pyrunc.plan); the kernel
 * takes an array of unsigned long and, for historical reasons, one more than the bit count. */
void op_mempolicy(uint64_t mode, const struct plan_arg *mask, const char *what)
{
    enum { NODES = 1024, LONG_BITS = 8 * sizeof(unsigned long) };
    unsigned long nodes[NODES / LONG_BITS];
    memset(nodes, 0, sizeof(nodes));
    for (uint32_t i = 0; i < mask->len && i < NODES / 8; i++)
        nodes[i * 8 / LONG_BITS] |= (unsigned long)(unsigned char)mask->data[i]
                                    << (i * 8 % LONG_BITS);
    if (syscall(SYS_set_mempolicy, (int)mode, nodes, (unsigned long)NODES + 1) < 0)
        die_errno("%s", what);
}
