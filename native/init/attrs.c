/* Scheduling attributes of the container process: I/O priority, scheduler, CPU affinity.
 * pyrunc computes every value (including the packed struct sched_attr); this only calls. */
#define _GNU_SOURCE
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
