/* OCI hooks that run inside the container's namespaces: createContainer (after the mounts,
 * before pivot_root) and startContainer (after `start`, before the user's exec).
 *
 * pyrunc writes the state JSON records on a pipe once it knows the container's host pid and has
 * run its own prestart/createRuntime hooks (HOOK_STATE reports H to ask for that); each HOOK
 * feeds the current record to the hook's stdin, collects its output for the error message and
 * kills it when its timeout passes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init.h"

static char *state_buf;
static uint32_t state_len;

static void read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die_errno("read hook state");
        if (n == 0)
            die("read hook state: pyrunc sent no state");
        got += (size_t)n;
    }
}

void op_hook_state(int fd, int report_ready)
{
    uint32_t len;
    if (report_ready)
        report_text(SYNC_HOOKS, "");
    read_full(fd, &len, sizeof(len));
    free(state_buf);
    state_buf = malloc(len + 1);
    if (!state_buf)
        die("out of memory");
    read_full(fd, state_buf, len);
    state_len = len;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static __attribute__((noreturn)) void hook_child(int in, int out, const char *path, char **argv,
                                                 char **envp)
{
    struct sigaction sa = { .sa_handler = SIG_DFL };
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < _NSIG; sig++)
        sigaction(sig, &sa, NULL);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    if (cloexec_from(3) < 0) {
        dprintf(2, "mark fds close-on-exec: %s", strerror(errno));
        _exit(127);
    }
    execve(path, argv, envp);
    dprintf(2, "exec %s: %s", path, strerror(errno));
    _exit(127);
}

void op_hook(const struct plan_rec *r)
{
    uint64_t timeout = arg_u64(r, 0), argc = arg_u64(r, 1);
    const char *label = arg_str(r, 2);
    uint32_t nstr = r->argc - 3;
    if (nstr < 1 || argc > nstr - 1)
        die("plan: HOOK needs a path and its arguments");
    const char *path = arg_str(r, 3);
    char **argv = calloc(argc + 2, sizeof(char *));
    char **envp = calloc(nstr + 1, sizeof(char *));
    if (!argv || !envp)
        die("out of memory");
    if (argc == 0)
        argv[0] = (char *)path;
    for (uint64_t i = 0; i < argc; i++)
        argv[i] = r->args[4 + i].data;
    for (uint32_t i = 1 + (uint32_t)argc, j = 0; i < nstr; i++, j++)
        envp[j] = r->args[3 + i].data;

    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
        die_errno("%s: pipe", label);
    pid_t pid = fork();
    if (pid < 0)
        die_errno("%s: fork", label);
    if (pid == 0)
        hook_child(in[0], out[1], path, argv, envp);
    close(in[0]);
    close(out[1]);
    free(argv);
    free(envp);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    struct sigaction ign = { .sa_handler = SIG_IGN }, old;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGPIPE, &ign, &old); /* a hook that does not read its stdin is fine */

    char output[1024];
    size_t outlen = 0;
    uint32_t sent = 0;
    int status = 0, exited = 0;
    int64_t deadline = timeout ? now_ms() + (int64_t)timeout * 1000 : 0;
    int in_fd = in[1], out_fd = out[0];
    while (!exited || out_fd >= 0) {
        struct pollfd pfd[2] = { { .fd = out_fd, .events = POLLIN },
                                 { .fd = in_fd, .events = POLLOUT } };
        poll(pfd, 2, exited ? 0 : 10);
        if (in_fd >= 0) {
            if (sent < state_len) {
                ssize_t n = write(in_fd, state_buf + sent, state_len - sent);
                if (n > 0)
                    sent += (uint32_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    sent = state_len; /* EPIPE: the hook closed its stdin */
            }
            if (sent >= state_len) {
                close(in_fd);
                in_fd = -1;
            }
        }
        if (out_fd >= 0) {
            char buf[512];
            ssize_t n = read(out_fd, buf, sizeof(buf));
            if (n > 0) {
                size_t k = (size_t)n;
                if (k > sizeof(output) - 1 - outlen)
                    k = sizeof(output) - 1 - outlen;
                memcpy(output + outlen, buf, k);
                outlen += k;
            } else if (n == 0 || (exited && errno == EAGAIN)) {
                /* EOF, or a background child of the hook still holds the pipe */
                close(out_fd);
                out_fd = -1;
            }
        }
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid)
                exited = 1;
            else if (w < 0 && errno != EINTR)
                die_errno("%s: wait", label);
            else if (deadline && now_ms() > deadline) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                die("%s: %s: timeout after %llus", label, path, (unsigned long long)timeout);
            }
        }
    }
    if (in_fd >= 0)
        close(in_fd);
    sigaction(SIGPIPE, &old, NULL);
    output[outlen] = '\0';
    while (outlen && (output[outlen - 1] == '\n' || output[outlen - 1] == ' '))
        output[--outlen] = '\0';
    if (WIFSIGNALED(status))
        die("%s: %s: killed by signal %d%s%s", label, path, WTERMSIG(status),
            outlen ? ", output: " : "", output);
    if (WEXITSTATUS(status) != 0)
        die("%s: %s: exit status %d%s%s", label, path, WEXITSTATUS(status),
            outlen ? ", output: " : "", output);
}
