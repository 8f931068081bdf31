/*
 * The `pyrunc` command of a pip-installed pyrunc (setup.py builds it into the wheel's scripts).
 *
 * pip starts a console script through its own wrapper (which imports re) and an interpreter
 * without -I -S (so site runs): several milliseconds on every call, and engines make five calls
 * per container.  This program costs one exec of a small static binary instead: it finds the
 * venv it was installed into from /proc/self/exe (a pipx symlink resolves to the real venv),
 * and runs that venv's python with -I -S on the same few lines as the checkout's launcher:
 * the collector off first, the venv's site-packages on the path (site would have added it),
 * pyrunc's fast imports, the CLI.
 *
 * PURELIB_REL (from setup.py) is site-packages relative to the venv, e.g. lib/python3.11/site-packages.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PURELIB_REL
#error "PURELIB_REL must be defined"
#endif

static const char CODE[] =
    "import gc\n"
    "gc.disable()  # see LONG_RUNNING in pyrunc/cli.py\n"
    "import sys\n"
    "sys.path.append(sys.argv.pop(1))\n"
    "import pyrunc\n"
    "pyrunc.install_fast_imports()\n"
    "from pyrunc.cli import main\n"
    "main()\n";

int main(int argc, char **argv)
{
    char self[PATH_MAX], python[PATH_MAX], purelib[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0) {
        perror("pyrunc: readlink /proc/self/exe");
        return 1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');  /* self = VENV/bin/pyrunc */
    if (!slash)
        return 1;
    *slash = '\0';
    if (snprintf(python, sizeof(python), "%s/python", self) >= (int)sizeof(python))
        return 1;
    slash = strrchr(self, '/');
    if (!slash)
        return 1;
    *slash = '\0';
    if (snprintf(purelib, sizeof(purelib), "%s/%s", self, PURELIB_REL) >= (int)sizeof(purelib))
        return 1;

    char **args = calloc((size_t)argc + 6, sizeof(char *));
    if (!args)
        return 1;
    int i = 0;
    args[i++] = python;
    args[i++] = "-I";
    args[i++] = "-S";
    args[i++] = "-c";
    args[i++] = (char *)CODE;
    args[i++] = purelib;
    for (int k = 1; k < argc; k++)
        args[i++] = argv[k];
    args[i] = NULL;
    execv(python, args);
    fprintf(stderr, "pyrunc: cannot run %s (pyrunc must be installed in a venv): ", python);
    perror(NULL);
    return 127;
}
