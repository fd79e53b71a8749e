/* net_common.c: shared helpers for the Landlock tests: feature gates, sandboxes, namespaces, sockets. */
#define _GNU_SOURCE
#include "net_common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/utsname.h>
#include <unistd.h>

int ll_abi(void)
{
	long r;

#ifdef KH_FRAMEWORK_CHECK
	/* The framework check's stand-in for a kernel (see framework-check/); never in the bundled programs. */
	const char *fake = getenv("KH_CHECK_LANDLOCK_ABI");

	if (fake)
		return atoi(fake);
#endif
	r = kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_VERSION);
	return r < 0 ? -errno : (int)r;
}

long ll_errata(void)
{
	long r = kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_ERRATA);

	return r < 0 ? -errno : r;
}

/* 1 when a seccomp filter is in force on this process (it may be what answers ENOSYS). */
static int seccomp_filtered(void)
{
	char line[128];
	int mode = 0;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode == 2;
}

int require_landlock(int min_abi)
{
	int abi = ll_abi();

	if (abi == -ENOSYS)
		SKIP("Landlock is not built into this kernel (ENOSYS)%s",
		     seccomp_filtered() ? "; note: a seccomp filter is in force and may answer ENOSYS" : "");
	if (abi == -EOPNOTSUPP)
		SKIP("Landlock is built but not enabled at boot (EOPNOTSUPP): add landlock to lsm=");
	if (abi < 0)
		kh_fail_at(__FILE__, __LINE__, 1,
			   "Landlock ABI query landlock_create_ruleset(NULL, 0, VERSION) failed with %s; "
			   "a kernel answers an ABI version, ENOSYS or EOPNOTSUPP",
			   kh_errno_name(-abi));
	if (abi < min_abi)
		SKIP("requires Landlock ABI %d, kernel has %d", min_abi, abi);
	return abi;
}

/* Landlock changes that came without an ABI or errata bump, and the releases known to carry them. */
const struct ll_fix ll_fix_errata_query = {
	/* Mainline has it since ABI 7 (6.15); 6.12.y since 6.12.24. */
	.title = "landlock: Add the errata interface", .min_abi = 7, .stable = { { 6, 12, 24 } },
};
const struct ll_fix ll_fix_tcp_fastopen = {
	.title = "landlock: Fix TCP Fast Open connection bypass", .stable = { { 6, 12, 112 } },
};
const struct ll_fix ll_fix_short_unspec = {
	.title = "landlock: Fix TCP handling of short AF_UNSPEC addresses", .stable = { { 6, 12, 92 } },
};

/* The running kernel's release string, and its leading major.minor.patch (0s when unreadable). */
static const char *kernel_release(int *major, int *minor, int *patch)
{
	static struct utsname u;

	*major = *minor = *patch = 0;
#ifdef KH_FRAMEWORK_CHECK
	{
		const char *fake = getenv("KH_CHECK_KERNEL_RELEASE");

		if (fake) {
			sscanf(fake, "%d.%d.%d", major, minor, patch);
			return fake;
		}
	}
#endif
	if (uname(&u) < 0)
		return "(uname failed)";
	sscanf(u.release, "%d.%d.%d", major, minor, patch);
	return u.release;
}

int kernel_has_fix(const struct ll_fix *fix)
{
	int major, minor, patch, abi = ll_abi();

	if (fix->min_abi && abi >= fix->min_abi)
		return 1;
	kernel_release(&major, &minor, &patch);
	for (size_t i = 0; i < sizeof(fix->stable) / sizeof(fix->stable[0]) && fix->stable[i].major; i++)
		if (major == fix->stable[i].major && minor == fix->stable[i].minor &&
		    patch >= fix->stable[i].patch)
			return 1;
	return 0;
}

void ll_missing_fix_at(const char *file, int line, const struct ll_fix *fix, const char *fmt, ...)
{
	int major, minor, patch;
	const char *release = kernel_release(&major, &minor, &patch);
	char what[512], known[128] = "";
	size_t n = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (fix->min_abi)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "ABI %d+", fix->min_abi);
	for (size_t i = 0; i < sizeof(fix->stable) / sizeof(fix->stable[0]) && fix->stable[i].major &&
			   n < sizeof(known);
	     i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%d.%d.%d+", n ? ", " : "",
				      fix->stable[i].major, fix->stable[i].minor, fix->stable[i].patch);
	if (kernel_has_fix(fix))
		kh_fail_at(file, line, 1, "%s, but kernel %s (ABI %d) carries \"%s\" (%s)", what,
			   release, ll_abi(), fix->title, known);
	SKIP("kernel %s (ABI %d) is not known to carry \"%s\" (%s): %s", release, ll_abi(),
	     fix->title, known, what);
}

long require_errata(void)
{
	long errata = ll_errata();

	if (errata == -EINVAL)
		MISSING_FIX(&ll_fix_errata_query,
			    "landlock_create_ruleset(NULL, 0, ERRATA) answered EINVAL (no errata query)");
	if (errata < 0)
		kh_fail_at(__FILE__, __LINE__, 1,
			   "errata query landlock_create_ruleset(NULL, 0, ERRATA) failed with %s; "
			   "a kernel answers a mask, or EINVAL without the query",
			   kh_errno_name((int)-errata));
	return errata;
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

/* The raw capget(2)/capset(2) interface, to avoid a libcap dependency. */
struct cap_header {
	uint32_t version;
	int pid;
};
struct cap_data {
	uint32_t effective, permitted, inheritable;
};
#define CAP_VERSION_3 0x20080522

static int has_effective_capability(int cap)
{
	struct cap_header hdr = { .version = CAP_VERSION_3 };
	struct cap_data data[2];

	ASSERT_SYS_OK(syscall(SYS_capget, &hdr, data));
	return !!(data[cap / 32].effective & (1U << (cap % 32)));
}

void net_ns_setup(void)
{
	struct ifreq ifr = { 0 };
	int fd, err;

	if (unshare(CLONE_NEWNET) < 0) {
		err = errno;
		if (err == EINVAL)
			SKIP("kernel without network namespaces (unshare(CLONE_NEWNET): EINVAL; CONFIG_NET_NS)");
		if (err == EPERM && !has_effective_capability(KH_CAP_SYS_ADMIN))
			SKIP("creating a network namespace needs CAP_SYS_ADMIN, which this process lacks (run as root)");
		kh_fail_at(__FILE__, __LINE__, 1, "unshare(CLONE_NEWNET) failed with %s%s",
			   kh_errno_name(err), err == EPERM ? " although the process holds CAP_SYS_ADMIN" : "");
	}
	fd = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	strcpy(ifr.ifr_name, "lo");
	ASSERT_SYS_OK(ioctl(fd, SIOCGIFFLAGS, &ifr));
	ifr.ifr_flags |= IFF_UP;
	ASSERT_SYS_OK(ioctl(fd, SIOCSIFFLAGS, &ifr));
	close(fd);
}

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
