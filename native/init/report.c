/* Messages to pyrunc: one line each on SYNCFD (see pyrunc/plan.py). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

int sync_fd = -1;

static void send_line(char kind, const char *msg)
{
    char line[4096];
    int n = snprintf(line, sizeof(line), "%c%s\n", kind, msg);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = sizeof(line) - 1, line[n - 1] = '\n';
    for (int i = 1; i < n - 1; i++) /* one message, one line: a path may hold a newline */
        if (line[i] == '\n')
            line[i] = ' ';
    int fd = sync_fd >= 0 ? sync_fd : 2;
    if (sync_fd < 0) /* after READY nobody reads SYNCFD: tell the container's stderr */
        (void)!write(fd, "pyrunc-init: ", 13), fd = 2;
    (void)!write(fd, sync_fd >= 0 ? line : line + 1, sync_fd >= 0 ? (size_t)n : (size_t)n - 1);
}

void report(const char *fmt, ...)
{
    char msg[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_line(msg[0], msg + 1);
}

void die(const char *fmt, ...)
{
    char msg[4000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_line('E', msg);
    _exit(1);
}

void die_errno(const char *fmt, ...)
{
    char msg[3500], full[4000];
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (sync_fd >= 0) { /* pyrunc words the errno, as runc would (see pyrunc/plan.py) */
        snprintf(full, sizeof(full), "%d %s", err, msg);
        send_line('e', full);
    } else {
        snprintf(full, sizeof(full), "%s: %s", msg, strerror(err));
        send_line('E', full);
    }
    _exit(1);
}
