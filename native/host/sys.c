#include <sys/prctl.h>

/* Become (or stop being) the reaper of orphaned descendants: `run` in the foreground waits for
 * the container's init like runc does, even after the init's own parent has exited. */
int pyrunc_set_subreaper(int on)
{
    return prctl(PR_SET_CHILD_SUBREAPER, on ? 1 : 0, 0, 0, 0);
}
