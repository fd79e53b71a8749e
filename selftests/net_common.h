/* net_common.h: shared helpers for the Landlock tests: feature gates, sandboxes, namespaces, sockets. */
#ifndef KH_NET_COMMON_H
#define KH_NET_COMMON_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

#include "kh_test.h"
#include "landlock_uapi.h"

/*
 * KH_FLIP_ERRNO (a test-only build option) makes one expected errno in
 * each program wrong, so the harness can prove that failures are seen.
 * KH_FLIPPED(right, wrong) is `right` normally and `wrong` in that build.
 */
#ifdef KH_FLIP_ERRNO
#define KH_FLIPPED(right, wrong) (wrong)
#else
#define KH_FLIPPED(right, wrong) (right)
#endif

/*
 * A case SKIPs only for a fact the kernel states: Landlock absent (ENOSYS) or not enabled (EOPNOTSUPP),
 * the ABI version, an errata bit, a functional probe, a missing config option, or a release older than
 * a fix that came without an ABI or errata bump (struct ll_fix). Any other errno, or a kernel that
 * should behave and does not, is a FAIL saying what happened.
 */

/* Landlock's ABI version, or -errno (ENOSYS: not built; EOPNOTSUPP: not enabled at boot). */
int ll_abi(void);
/* The errata bitmask, or -errno when the kernel has no errata query (EINVAL). */
long ll_errata(void);
/* SKIPs the case unless Landlock is enabled with at least ABI min_abi (FAILs on any other answer); returns the ABI. */
int require_landlock(int min_abi);

/*
 * A Landlock fix that changed behaviour without an ABI or errata bump. A kernel carries it when its ABI
 * is at least min_abi (0: no mainline ABI known to imply it), or when it is a stable release at or
 * after one listed in stable[] (first 6.12.y carrying it, from Debian's linux-6.12 changelog).
 */
struct ll_fix {
	const char *title;
	int min_abi;
	struct {
		int major, minor, patch;
	} stable[4];
};
extern const struct ll_fix ll_fix_errata_query, ll_fix_tcp_fastopen, ll_fix_short_unspec;

/* 1 when the running kernel is known to carry the fix. */
int kernel_has_fix(const struct ll_fix *fix);
/*
 * The kernel did not behave as the fix makes it: FAILs (ending the case) when the running kernel is
 * known to carry the fix, else SKIPs naming the kernel release and the fix. The message says what happened.
 */
#define MISSING_FIX(fix, ...) ll_missing_fix_at(__FILE__, __LINE__, fix, __VA_ARGS__)
void ll_missing_fix_at(const char *file, int line, const struct ll_fix *fix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5), noreturn));

/* The errata mask; SKIPs on a kernel without the query that is not known to have it, FAILs on any other error. */
long require_errata(void);
/* The network rights the running kernel knows, derived from its ABI. */
uint64_t ll_known_net_access(int abi);

/* A ruleset handling these network rights (ASSERTs it was created). */
int ll_net_ruleset(uint64_t handled_net);
/* Adds an allow rule for one port (ASSERTs it was added). */
void ll_allow_port(int ruleset_fd, uint64_t access, uint64_t port);
/* Sets no_new_privs, enforces the ruleset on the calling process, closes it. */
void ll_enforce(int ruleset_fd);
/* One layer: handles `handled`, allows `access` on each of the nports ports. */
void ll_sandbox_ports(uint64_t handled, uint64_t access, int nports, const uint64_t *ports);

/*
 * A fresh network namespace with lo up (IPv4 127.0.0.1 and IPv6 ::1). SKIPs without CONFIG_NET_NS, or
 * when the process verifiably lacks CAP_SYS_ADMIN (a run as a plain user on a host; never in the guest).
 */
void net_ns_setup(void);

/*
 * A fixture whose cases run once per address family (variants ipv4 and ipv6: `variant->family`), each
 * in a fresh network namespace, on kernels with Landlock network rules (ABI 4).
 */
#define NET_FAMILY_FIXTURE(name)                                      \
	FIXTURE(name) {};                                             \
	FIXTURE_VARIANT(name) { int family; };                        \
	FIXTURE_VARIANT_ADD(name, ipv4) { .family = AF_INET };        \
	FIXTURE_VARIANT_ADD(name, ipv6) { .family = AF_INET6 };       \
	SETUP(name)                                                   \
	{                                                             \
		require_landlock(4);                                  \
		net_ns_setup();                                       \
	}                                                             \
	TEARDOWN(name) {}

/* Clears one capability from the effective and permitted sets. */
void drop_capability(int cap);
#define KH_CAP_NET_BIND_SERVICE 10
#define KH_CAP_SYS_ADMIN 21

struct sock_addr {
	socklen_t len;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	};
};

/* The loopback address of a family (127.0.0.1 or ::1) with a port. */
struct sock_addr loopback_addr(int family, uint16_t port);
/* The wildcard address of a family with a port. */
struct sock_addr any_addr(int family, uint16_t port);

/* These return what the system call returned, with errno, for ASSERT_SYS_OK / ASSERT_ERRNO. */
int bind_port(int fd, int family, uint16_t port);
int connect_port(int fd, int family, uint16_t port);
/* A socket bound to loopback:port and listening (ASSERTed), made before sandboxing. */
int tcp_listener(int family, uint16_t port);
/* The name of an address family for messages. */
const char *family_name(int family);

#endif /* KH_NET_COMMON_H */
