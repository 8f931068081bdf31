/* Messages to pyrunc on SYNCFD: a kind byte, a u32 length, the payload (see pyrunc.plan,
 * whose MESSAGES table gives the SYNC_* kinds). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "init.h"

int sync_fd = -1;

void report_text(char kind, const char *text)
{
    size_t n = strnlen(text, SYNC_MESSAGE_MAX);
    if (sync_fd < 0) { /* after READY nobody reads SYNCFD: tell the container's stderr */
        char line[SYNC_MESSAGE_MAX + 16];
        int k = snprintf(line, sizeof(line), "pyrunc-init: %.*s\n", (int)n, text);
        if (k > 0)
            (void)!write(2, line, (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1);
        return;
    }
    unsigned char msg[5 + SYNC_MESSAGE_MAX];
    msg[0] = (unsigned char)kind;
    for (int i = 0; i < 4; i++) /* little-endian, as every integer of the protocol */
        msg[1 + i] = (unsigned char)(n >> (8 * i));
    memcpy(msg + 5, text, n);
    (void)!write(sync_fd, msg, 5 + n); /* <= PIPE_BUF: one atomic write */
}

void report(char kind, const char *fmt, ...)
{
    char text[SYNC_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    report_text(kind, text);
}

void die(const char *fmt, ...)
{
    char text[SYNC_MESSAGE_MAX + 1];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    report_text(SYNC_ERROR, text);
    _exit(1);
}

void die_errno(const char *fmt, ...)
{
    char text[SYNC_MESSAGE_MAX - 16], full[SYNC_MESSAGE_MAX + 1];
    int err = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (sync_fd >= 0) { /* pyrunc words the errno, as runc would (see pyrunc.plan) */
        snprintf(full, sizeof(full), "%d %s", err, text);
        report_text(SYNC_ERRNO, full);
    } else {
        snprintf(full, sizeof(full), "%s: %s", text, strerror(err));
        report_text(SYNC_ERROR, full);
    }
    _exit(1);
}
