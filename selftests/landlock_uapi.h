/* landlock_uapi.h: the Landlock uapi the tests use, declared here so they build whatever the host's kernel headers. */
#ifndef KH_LANDLOCK_UAPI_H
#define KH_LANDLOCK_UAPI_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The same numbers on every architecture (the unified syscall table). */
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_add_rule
#define __NR_landlock_add_rule 445
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

/* Flags of landlock_create_ruleset(NULL, 0, flags). */
#define KH_LL_CREATE_RULESET_VERSION (1U << 0)
#define KH_LL_CREATE_RULESET_ERRATA (1U << 1)

/* Erratum N is bit N-1 of the errata mask; erratum 1: only real TCP sockets are restricted. */
#define KH_LL_ERRATUM_TCP_ONLY (1U << 0)

/*
 * The ruleset attribute as of ABI 6 (24 bytes), followed by the field of
 * the socket creation proposal, which goes at the end (32 bytes). Pass
 * the size that matches the fields in use: ABI 1-3 kernels know 8 bytes,
 * ABI 4-5 know 16, ABI 6+ know 24, and a kernel rejects a larger size whose
 * extra bytes are not zero (E2BIG).
 */
struct kh_ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
	uint64_t handled_access_socket; /* proposal, not mainline */
};

#define KH_LL_RULESET_SIZE_FS 8u
#define KH_LL_RULESET_SIZE_NET 16u
#define KH_LL_RULESET_SIZE_SCOPED 24u
#define KH_LL_RULESET_SIZE_SOCKET 32u

/* Rule types. */
#define KH_LL_RULE_PATH_BENEATH 1
#define KH_LL_RULE_NET_PORT 2
#define KH_LL_RULE_SOCKET 3 /* proposal: the next value after NET_PORT */

struct kh_ll_net_port_attr {
	uint64_t allowed_access;
	uint64_t port; /* host byte order */
};

struct kh_ll_socket_attr {
	uint64_t allowed_access;
	int32_t family;
	int32_t type;     /* -1: any */
	int32_t protocol; /* -1: any */
} __attribute__((packed));

/* Filesystem right used where a test needs "some handled right" on any ABI. */
#define KH_LL_ACCESS_FS_EXECUTE (1ULL << 0)

/* Network rights (ABI 4). */
#define KH_LL_ACCESS_NET_BIND_TCP (1ULL << 0)
#define KH_LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)

/* Socket creation right (proposal). */
#define KH_LL_ACCESS_SOCKET_CREATE (1ULL << 0)

static inline long kh_ll_create_ruleset(const void *attr, size_t size, uint32_t flags)
{
	return syscall(__NR_landlock_create_ruleset, attr, size, flags);
}

static inline long kh_ll_add_rule(int ruleset_fd, int rule_type, const void *attr, uint32_t flags)
{
	return syscall(__NR_landlock_add_rule, ruleset_fd, rule_type, attr, flags);
}

static inline long kh_ll_restrict_self(int ruleset_fd, uint32_t flags)
{
	return syscall(__NR_landlock_restrict_self, ruleset_fd, flags);
}

#endif /* KH_LANDLOCK_UAPI_H */
