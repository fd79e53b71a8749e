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

/* Landlock's ABI version, or -errno (ENOSYS: not built; EOPNOTSUPP: not enabled at boot). */
int ll_abi(void);
/* The errata bitmask, or -errno when the kernel has no errata query (EINVAL). */
long ll_errata(void);
/* SKIPs the case unless Landlock is enabled with at least ABI min_abi; returns the ABI. */
int require_landlock(int min_abi);
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

/* A fresh network namespace with lo up (IPv4 127.0.0.1 and IPv6 ::1). */
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
