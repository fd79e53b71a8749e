/* net_common.c: shared helpers for the Landlock tests: feature gates, sandboxes, namespaces, sockets. */
#define _GNU_SOURCE
#include "net_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <unistd.h>

int ll_abi(void)
{
	long r = kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_VERSION);

	return r < 0 ? -errno : (int)r;
}

long ll_errata(void)
{
	long r = kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_ERRATA);

	return r < 0 ? -errno : r;
}

int require_landlock(int min_abi)
{
	int abi = ll_abi();

	if (abi == -ENOSYS)
		SKIP("Landlock is not built into this kernel (ENOSYS)");
	if (abi == -EOPNOTSUPP)
		SKIP("Landlock is built but not enabled at boot (EOPNOTSUPP): add landlock to lsm=");
	if (abi < 0)
		SKIP("Landlock ABI query failed: %s", kh_errno_name(-abi));
	if (abi < min_abi)
		SKIP("requires Landlock ABI %d, kernel has %d", min_abi, abi);
	return abi;
}

uint64_t ll_known_net_access(int abi)
{
	if (abi >= 10)
		return 0xf; /* + NET_BIND_UDP, NET_CONNECT_SEND_UDP */
	if (abi >= 4)
		return KH_LL_ACCESS_NET_BIND_TCP | KH_LL_ACCESS_NET_CONNECT_TCP;
	return 0;
}

int ll_net_ruleset(uint64_t handled_net)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_net = handled_net };

	return (int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_NET, 0));
}

void ll_allow_port(int ruleset_fd, uint64_t access, uint64_t port)
{
	struct kh_ll_net_port_attr rule = { .allowed_access = access, .port = port };

	ASSERT_SYS_OK(kh_ll_add_rule(ruleset_fd, KH_LL_RULE_NET_PORT, &rule, 0));
}

void ll_enforce(int ruleset_fd)
{
	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_SYS_OK(kh_ll_restrict_self(ruleset_fd, 0));
	close(ruleset_fd);
}

void ll_sandbox_ports(uint64_t handled, uint64_t access, int nports, const uint64_t *ports)
{
	int fd = ll_net_ruleset(handled);

	for (int i = 0; i < nports; i++)
		ll_allow_port(fd, access, ports[i]);
	ll_enforce(fd);
}

void net_ns_setup(void)
{
	struct ifreq ifr = { 0 };
	int fd;

	if (unshare(CLONE_NEWNET) < 0) {
		if (errno == EPERM)
			SKIP("creating a network namespace needs CAP_SYS_ADMIN (run as root)");
		ASSERT_SYS_OK(-1); /* reports the errno */
	}
	fd = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	strcpy(ifr.ifr_name, "lo");
	ASSERT_SYS_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP;
	ASSERT_SYS_OK(ioctl(fd, SIOCSIFFLAGS, &ifr));
	close(fd);
}

/* The raw capset(2) interface, to avoid a libcap dependency. */
struct cap_header {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};
#define CAP_VERSION_3 0x20080522

void drop_capability(int cap)
{
	struct cap_header hdr = { .version = CAP_VERSION_3 };
	struct cap_data data[2];

	ASSERT_SYS_OK(syscall(SYS_capget, &hdr, data));
	data[cap / 32].effective &= ~(1U << (cap % 32));
	data[cap / 32].permitted &= ~(1U << (cap % 32));
	ASSERT_SYS_OK(syscall(SYS_capset, &hdr, data));
}

struct sock_addr loopback_addr(int family, uint16_t port)
{
	struct sock_addr a;

	memset(&a, 0, sizeof(a));
	if (family == AF_INET6) {
		a.in6.sin6_family = AF_INET6;
		a.in6.sin6_port = htons(port);
		a.in6.sin6_addr = in6addr_loopback;
		a.len = sizeof(a.in6);
	} else {
		a.in.sin_family = AF_INET;
		a.in.sin_port = htons(port);
		a.in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.len = sizeof(a.in);
	}
	return a;
}

struct sock_addr any_addr(int family, uint16_t port)
{
	struct sock_addr a = loopback_addr(family, port);

	if (family == AF_INET6)
		a.in6.sin6_addr = in6addr_any;
	else
		a.in.sin_addr.s_addr = htonl(INADDR_ANY);
	return a;
}

int bind_port(int fd, int family, uint16_t port)
{
	struct sock_addr a = loopback_addr(family, port);

	return bind(fd, &a.sa, a.len);
}

int connect_port(int fd, int family, uint16_t port)
{
	struct sock_addr a = loopback_addr(family, port);

	return connect(fd, &a.sa, a.len);
}

int tcp_listener(int family, uint16_t port)
{
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));

	ASSERT_SYS_OK(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 }, sizeof(int)));
	ASSERT_SYS_OK(bind_port(fd, family, port));
	ASSERT_SYS_OK(listen(fd, 16));
	return fd;
}

const char *family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_UNIX:
		return "AF_UNIX";
	default:
		return "AF_?";
	}
}
