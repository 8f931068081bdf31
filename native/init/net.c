/* linux.netDevices, the container's side (pyrunc/host/netdev.py): pyrunc has moved each device into
 * this network namespace, under its host index; this adds its addresses back and sets it up,
 * over a NETLINK_ROUTE socket of this namespace.  Every value comes from the plan. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init.h"

struct nl_req {
    struct nlmsghdr h;
    union {
        struct ifinfomsg link;
        struct ifaddrmsg addr;
    };
    char attrs[256];
};

static void add_attr(struct nl_req *r, unsigned short type, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(r->h.nlmsg_len);
    if (off + RTA_SPACE(len) > sizeof(*r))
        die("plan: netlink attribute too long");
    struct rtattr *a = (struct rtattr *)((char *)r + off);
    a->rta_type = type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->h.nlmsg_len = (uint32_t)(off + RTA_SPACE(len));
}

/* Send one request and read its ack; 0, or the errno the kernel answered with. */
static int nl_talk(struct nl_req *r)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return errno;
    r->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    r->h.nlmsg_seq = 1;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    int err = 0;
    if (sendto(fd, r, r->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        err = errno;
        goto out;
    }
    for (;;) {
        char buf[4096];
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno;
            goto out;
        }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != 1 || h->nlmsg_type != NLMSG_ERROR)
                continue;
            if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
                err = EPROTO;
                goto out;
            }
            err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
            goto out;
        }
    }
out:
    close(fd);
    return err;
}

void op_netdev_addr(const struct plan_rec *r)
{
    struct nl_req req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    req.h.nlmsg_type = RTM_NEWADDR;
    req.h.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
    req.addr.ifa_index = (int)arg_u64(r, 0);
    req.addr.ifa_family = (unsigned char)arg_u64(r, 1);
    req.addr.ifa_prefixlen = (unsigned char)arg_u64(r, 2);
    req.addr.ifa_scope = RT_SCOPE_UNIVERSE;
    uint32_t flags = (uint32_t)arg_u64(r, 3);
    if (flags)
        add_attr(&req, IFA_FLAGS, &flags, sizeof(flags));
    static const unsigned short types[] = { IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST };
    for (int i = 0; i < 3; i++)
        if (r->args[4 + i].len)
            add_attr(&req, types[i], r->args[4 + i].data, r->args[4 + i].len);
    int err = nl_talk(&req);
    if (err) {
        errno = err;
        die_errno("%s", arg_str(r, 7));
    }
}

void op_netdev_up(uint64_t index, const char *what)
{
    struct nl_req req;
    memset(&req, 0, sizeof(req));
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    req.h.nlmsg_type = RTM_NEWLINK;
    req.link.ifi_family = AF_UNSPEC;
    req.link.ifi_index = (int)index;
    req.link.ifi_flags = IFF_UP;
    req.link.ifi_change = IFF_UP;
    int err = nl_talk(&req);
    if (err) {
        errno = err;
        die_errno("%s", what);
    }
}
