/* Reading and checking the plan: every record's arguments must match plan_op_table. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "init.h"
#include "plan_ops.h"

static char *buf;
static size_t buf_len;

static void read_all(int fd)
{
    size_t cap = 65536;
    buf = malloc(cap);
    if (!buf)
        die("out of memory");
    for (;;) {
        if (buf_len == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf)
                die("out of memory");
        }
        ssize_t n = read(fd, buf + buf_len, cap - buf_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die_errno("read plan");
        if (n == 0)
            break;
        buf_len += (size_t)n;
    }
}

static uint32_t get_u32(size_t *pos)
{
    uint32_t v;
    if (*pos + 4 > buf_len)
        die("plan truncated");
    memcpy(&v, buf + *pos, 4);
    *pos += 4;
    return le32toh(v); /* the format is little-endian (pyrunc.plan) */
}

static const char *op_args(uint32_t op)
{
    for (size_t i = 0; i < sizeof(plan_op_table) / sizeof(plan_op_table[0]); i++)
        if ((uint32_t)plan_op_table[i].op == op)
            return plan_op_table[i].args;
    return NULL;
}

const char *plan_op_name(uint32_t op)
{
    for (size_t i = 0; i < sizeof(plan_op_table) / sizeof(plan_op_table[0]); i++)
        if ((uint32_t)plan_op_table[i].op == op)
            return plan_op_table[i].name;
    return "?";
}

static void check_args(const struct plan_rec *r)
{
    const char *kinds = op_args(r->op);
    if (!kinds)
        die("plan: unknown operation %u", r->op);
    size_t fixed = strlen(kinds);
    int rest = fixed > 0 && kinds[fixed - 1] == 'S';
    if (rest)
        fixed--;
    if (r->argc < fixed || (!rest && r->argc != fixed))
        die("plan: %s takes %zu arguments, got %u", plan_op_name(r->op), fixed, r->argc);
    for (size_t i = 0; i < fixed; i++)
        if (kinds[i] == 'u' && r->args[i].len != 8)
            die("plan: %s argument %zu is not a u64", plan_op_name(r->op), i);
}

int plan_read(int fd, struct plan *p)
{
    size_t pos = 0;
    read_all(fd);
    if (buf_len < 12 || memcmp(buf, PLAN_MAGIC, 8) != 0)
        die("plan: bad magic");
    pos = 8;
    p->count = get_u32(&pos);
    p->recs = calloc(p->count ? p->count : 1, sizeof(*p->recs));
    if (!p->recs)
        die("out of memory");
    for (uint32_t i = 0; i < p->count; i++) {
        struct plan_rec *r = &p->recs[i];
        r->op = get_u32(&pos);
        r->argc = get_u32(&pos);
        if (r->argc > 1u << 20)
            die("plan: too many arguments");
        r->args = calloc(r->argc ? r->argc : 1, sizeof(*r->args));
        if (!r->args)
            die("out of memory");
        for (uint32_t j = 0; j < r->argc; j++) {
            uint32_t len = get_u32(&pos);
            if (pos + len > buf_len)
                die("plan truncated");
            r->args[j].len = len;
            r->args[j].data = malloc(len + 1);
            if (!r->args[j].data)
                die("out of memory");
            memcpy(r->args[j].data, buf + pos, len);
            r->args[j].data[len] = '\0';
            pos += len;
        }
        check_args(r);
    }
    if (pos != buf_len)
        die("plan: trailing bytes");
    free(buf);
    return 0;
}

uint64_t arg_u64(const struct plan_rec *r, uint32_t i)
{
    uint64_t v;
    memcpy(&v, r->args[i].data, 8);
    return le64toh(v);
}

const char *arg_str(const struct plan_rec *r, uint32_t i)
{
    return r->args[i].data;
}
