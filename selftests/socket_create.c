/* socket_create.c: Landlock socket creation control (the proposal, not mainline), gated by a functional probe. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_common.h"

#define CREATE KH_LL_ACCESS_SOCKET_CREATE
#define ANY (-1)

/* The probe's fact: the kernel refused a ruleset handling SOCKET_CREATE (E2BIG or EINVAL). */
#define UNSUPPORTED "socket creation control not supported by this kernel"

/*
 * The probe, in a forked child so that nothing it does can touch the case:
 * a ruleset handling SOCKET_CREATE with the patched struct size, then one
 * LANDLOCK_RULE_SOCKET rule. The feature is absent (SKIP) only when the
 * kernel refuses that ruleset: E2BIG (it does not know the field) or EINVAL
 * (it knows the size but not the right). Once the kernel has accepted the
 * ruleset, a refused rule is a kernel bug, and so is any other errno: FAIL.
 * KH_FLIP_ERRNO: E2BIG no longer counts as "unsupported", so on a kernel
 * without the feature every case of this program fails.
 */
enum { PROBE_SUPPORTED = 0, PROBE_UNSUPPORTED = 10, PROBE_UNEXPECTED = 11 };

static void require_socket_create(void)
{
	int status;
	pid_t pid;

	require_landlock(1);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kh_ll_ruleset_attr attr = { .handled_access_socket = CREATE };
		struct kh_ll_socket_attr rule = {
			.allowed_access = CREATE, .family = AF_UNIX, .type = SOCK_STREAM, .protocol = 0,
		};
		long fd = kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_SOCKET, 0);
		int err = errno;

		if (fd < 0) {
			if (err == EINVAL || err == KH_FLIPPED(E2BIG, EBADMSG))
				_exit(PROBE_UNSUPPORTED);
			TH_LOG("probe: landlock_create_ruleset(handled_access_socket, %u bytes) failed with %s; "
			       "a kernel without the feature answers E2BIG or EINVAL",
			       KH_LL_RULESET_SIZE_SOCKET, kh_errno_name(err));
			_exit(PROBE_UNEXPECTED);
		}
		if (kh_ll_add_rule((int)fd, KH_LL_RULE_SOCKET, &rule, 0) < 0) {
			TH_LOG("probe: the kernel accepted a ruleset handling SOCKET_CREATE, then "
			       "landlock_add_rule(LANDLOCK_RULE_SOCKET) failed with %s",
			       kh_errno_name(errno));
			_exit(PROBE_UNEXPECTED);
		}
		_exit(PROBE_SUPPORTED);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status) == PROBE_UNSUPPORTED)
		SKIP(UNSUPPORTED);
	if (WEXITSTATUS(status) != PROBE_SUPPORTED)
		kh_fail_at(__FILE__, __LINE__, 1,
			   "socket creation probe failed unexpectedly (see the probe line above)");
}

static int socket_ruleset(void)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_socket = CREATE };

	return (int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_SOCKET, 0));
}

static long add_socket_rule(int fd, uint64_t access, int family, int type, int protocol)
{
	struct kh_ll_socket_attr rule = {
		.allowed_access = access, .family = family, .type = type, .protocol = protocol,
	};

	return kh_ll_add_rule(fd, KH_LL_RULE_SOCKET, &rule, 0);
}

/* One layer handling socket creation and allowing one (family, type, protocol). */
static void sandbox_allowing(int family, int type, int protocol)
{
	int fd = socket_ruleset();

	ASSERT_SYS_OK(add_socket_rule(fd, CREATE, family, type, protocol));
	ll_enforce(fd);
}

/* A layer that handles only a filesystem right: no socket constraint at all. */
static void sandbox_fs_only(void)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = KH_LL_ACCESS_FS_EXECUTE };

	ll_enforce((int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_FS, 0)));
}

/* socket(2) for each kind of socket; rules match the raw arguments. */
FIXTURE(create) {};
FIXTURE_VARIANT(create) { int family, type, protocol, other_family, other_type; };
FIXTURE_VARIANT_ADD(create, unix_stream) {
	.family = AF_UNIX, .type = SOCK_STREAM, .other_family = AF_INET, .other_type = SOCK_DGRAM,
};
FIXTURE_VARIANT_ADD(create, unix_dgram) {
	.family = AF_UNIX, .type = SOCK_DGRAM, .other_family = AF_INET, .other_type = SOCK_STREAM,
};
FIXTURE_VARIANT_ADD(create, inet_stream) {
	.family = AF_INET, .type = SOCK_STREAM, .other_family = AF_UNIX, .other_type = SOCK_DGRAM,
};
FIXTURE_VARIANT_ADD(create, inet_stream_tcp) {
	.family = AF_INET, .type = SOCK_STREAM, .protocol = IPPROTO_TCP,
	.other_family = AF_INET6, .other_type = SOCK_DGRAM,
};
FIXTURE_VARIANT_ADD(create, inet_dgram) {
	.family = AF_INET, .type = SOCK_DGRAM, .other_family = AF_UNIX, .other_type = SOCK_STREAM,
};
FIXTURE_VARIANT_ADD(create, inet6_stream) {
	.family = AF_INET6, .type = SOCK_STREAM, .other_family = AF_INET, .other_type = SOCK_DGRAM,
};
FIXTURE_VARIANT_ADD(create, inet6_dgram) {
	.family = AF_INET6, .type = SOCK_DGRAM, .other_family = AF_INET, .other_type = SOCK_STREAM,
};
SETUP(create) { require_socket_create(); }
TEARDOWN(create) {}

static int make_socket(const struct kh_var_create *v)
{
	return socket(v->family, v->type | SOCK_CLOEXEC, v->protocol);
}

TEST_F(create, denied_without_rule)
{
	close((int)ASSERT_SYS_OK(make_socket(variant)));
	sandbox_allowing(variant->other_family, ANY, ANY);
	ASSERT_ERRNO(EACCES, make_socket(variant));
}

TEST_F(create, allowed_with_exact_rule)
{
	sandbox_allowing(variant->family, variant->type, variant->protocol);
	ASSERT_SYS_OK(make_socket(variant));
}

TEST_F(create, allowed_with_type_and_protocol_wildcards)
{
	sandbox_allowing(variant->family, ANY, ANY);
	ASSERT_SYS_OK(make_socket(variant));
}

TEST_F(create, allowed_with_protocol_wildcard)
{
	sandbox_allowing(variant->family, variant->type, ANY);
	ASSERT_SYS_OK(make_socket(variant));
}

TEST_F(create, denied_with_other_type_rule)
{
	close((int)ASSERT_SYS_OK(make_socket(variant)));
	sandbox_allowing(variant->family, variant->other_type, ANY);
	ASSERT_ERRNO(EACCES, make_socket(variant));
}

TEST_F(create, denied_with_other_family_rule)
{
	close((int)ASSERT_SYS_OK(make_socket(variant)));
	sandbox_allowing(variant->other_family, variant->type, ANY);
	ASSERT_ERRNO(EACCES, make_socket(variant));
}

/* SOCK_CLOEXEC / SOCK_NONBLOCK are flags, not part of the type a rule matches. */
TEST_F(create, type_flags_ignored)
{
	sandbox_allowing(variant->family, variant->type, variant->protocol);
	ASSERT_SYS_OK(socket(variant->family, variant->type | SOCK_CLOEXEC | SOCK_NONBLOCK,
			     variant->protocol));
}

TEST_F(create, unhandled_by_ruleset_allowed)
{
	sandbox_fs_only();
	ASSERT_SYS_OK(make_socket(variant));
}

/* The protocol is matched as given: a rule for 0 does not cover IPPROTO_TCP. */
FIXTURE(raw_protocol) {};
SETUP(raw_protocol) { require_socket_create(); }
TEARDOWN(raw_protocol) {}

TEST_F(raw_protocol, zero_rule_does_not_match_ipproto_tcp)
{
	close((int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP)));
	sandbox_allowing(AF_INET, SOCK_STREAM, 0);
	ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP));
}

/* socketpair(2) creates sockets too. */
FIXTURE(pair) {};
FIXTURE_VARIANT(pair) { int type, other_type; };
FIXTURE_VARIANT_ADD(pair, unix_stream) { .type = SOCK_STREAM, .other_type = SOCK_DGRAM };
FIXTURE_VARIANT_ADD(pair, unix_dgram) { .type = SOCK_DGRAM, .other_type = SOCK_STREAM };
SETUP(pair) { require_socket_create(); }
TEARDOWN(pair) {}

/* KH_FLIP_ERRNO: these cases expect EPERM instead and so fail on a kernel with the feature. */
TEST_F(pair, socketpair_denied_without_rule)
{
	int sv[2];

	ASSERT_SYS_OK(socketpair(AF_UNIX, variant->type | SOCK_CLOEXEC, 0, sv));
	sandbox_allowing(AF_UNIX, variant->other_type, ANY);
	ASSERT_ERRNO(KH_FLIPPED(EACCES, EPERM), socketpair(AF_UNIX, variant->type | SOCK_CLOEXEC, 0, sv));
}

TEST_F(pair, socketpair_allowed_with_rule)
{
	int sv[2];
	char buf[4];

	sandbox_allowing(AF_UNIX, variant->type, 0);
	ASSERT_SYS_OK(socketpair(AF_UNIX, variant->type | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(4, send(sv[0], "ping", 4, 0));
	ASSERT_EQ(4, recv(sv[1], buf, 4, 0));
}

/* Stacked rulesets intersect. */
FIXTURE(layers) {};
SETUP(layers) { require_socket_create(); }
TEARDOWN(layers) {}

TEST_F(layers, disjoint_rules_deny_both)
{
	close((int)ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)));
	close((int)ASSERT_SYS_OK(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
	sandbox_allowing(AF_UNIX, SOCK_STREAM, ANY);
	sandbox_allowing(AF_UNIX, SOCK_DGRAM, ANY);
	ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
}

TEST_F(layers, overlap_allows_only_common)
{
	sandbox_allowing(AF_UNIX, ANY, ANY);
	sandbox_allowing(AF_UNIX, SOCK_STREAM, ANY);
	ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

TEST_F(layers, unhandled_layer_adds_no_constraint)
{
	sandbox_allowing(AF_UNIX, SOCK_STREAM, ANY);
	sandbox_fs_only();
	ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
}

TEST_F(layers, domain_inherited_by_child)
{
	pid_t pid;
	int status;

	sandbox_allowing(AF_UNIX, SOCK_STREAM, ANY);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* add_rule validation: family/type in [0,255), protocol in [0,65535) or -1, access non-empty and handled. */
FIXTURE(rule) { int ruleset; };
FIXTURE_VARIANT(rule) { uint64_t access; int family, type, protocol, err; };
FIXTURE_VARIANT_ADD(rule, valid) { CREATE, AF_UNIX, SOCK_STREAM, 0, 0 };
FIXTURE_VARIANT_ADD(rule, family_254) { CREATE, 254, SOCK_STREAM, 0, 0 };
FIXTURE_VARIANT_ADD(rule, family_255) { CREATE, 255, SOCK_STREAM, 0, EINVAL };
FIXTURE_VARIANT_ADD(rule, family_minus_1) { CREATE, -1, SOCK_STREAM, 0, EINVAL };
FIXTURE_VARIANT_ADD(rule, type_254) { CREATE, AF_UNIX, 254, 0, 0 };
FIXTURE_VARIANT_ADD(rule, type_255) { CREATE, AF_UNIX, 255, 0, EINVAL };
FIXTURE_VARIANT_ADD(rule, type_minus_1) { CREATE, AF_UNIX, -1, 0, 0 };
FIXTURE_VARIANT_ADD(rule, type_minus_2) { CREATE, AF_UNIX, -2, 0, EINVAL };
FIXTURE_VARIANT_ADD(rule, protocol_65534) { CREATE, AF_INET, SOCK_STREAM, 65534, 0 };
FIXTURE_VARIANT_ADD(rule, protocol_65535) { CREATE, AF_INET, SOCK_STREAM, 65535, EINVAL };
FIXTURE_VARIANT_ADD(rule, protocol_minus_1) { CREATE, AF_INET, SOCK_STREAM, -1, 0 };
FIXTURE_VARIANT_ADD(rule, protocol_minus_2) { CREATE, AF_INET, SOCK_STREAM, -2, EINVAL };
FIXTURE_VARIANT_ADD(rule, access_empty) { 0, AF_UNIX, SOCK_STREAM, 0, ENOMSG };
FIXTURE_VARIANT_ADD(rule, access_unknown_bit) { CREATE | (1ULL << 1), AF_UNIX, SOCK_STREAM, 0, EINVAL };
FIXTURE_VARIANT_ADD(rule, access_high_bit) { 1ULL << 63, AF_UNIX, SOCK_STREAM, 0, EINVAL };
SETUP(rule)
{
	require_socket_create();
	self->ruleset = socket_ruleset();
}
TEARDOWN(rule)
{
	close(self->ruleset);
}

TEST_F(rule, add)
{
	if (variant->err)
		ASSERT_ERRNO(variant->err, add_socket_rule(self->ruleset, variant->access,
							   variant->family, variant->type,
							   variant->protocol));
	else
		ASSERT_SYS_OK(add_socket_rule(self->ruleset, variant->access, variant->family,
					      variant->type, variant->protocol));
}

/* Other rule-building checks, and what the right leaves alone. */
FIXTURE(misc) {};
SETUP(misc) { require_socket_create(); }
TEARDOWN(misc) {}

TEST_F(misc, rule_needs_handled_right)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = KH_LL_ACCESS_FS_EXECUTE };
	int fd = (int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_SOCKET, 0));

	ASSERT_ERRNO(EINVAL, add_socket_rule(fd, CREATE, AF_UNIX, SOCK_STREAM, 0));
}

TEST_F(misc, unknown_handled_bit_einval)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_socket = CREATE | (1ULL << 1) };

	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_SOCKET, 0));
	attr.handled_access_socket = 1ULL << 63;
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_SOCKET, 0));
}

TEST_F(misc, null_rule_efault)
{
	int fd = socket_ruleset();

	ASSERT_ERRNO(EFAULT, kh_ll_add_rule(fd, KH_LL_RULE_SOCKET, NULL, 0));
}

TEST_F(misc, existing_fds_unaffected)
{
	int sv[2], udp;
	char buf[4];

	ASSERT_SYS_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	udp = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
	sandbox_allowing(AF_INET6, SOCK_DGRAM, ANY);
	ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_EQ(4, send(sv[0], "ping", 4, 0));
	ASSERT_EQ(4, recv(sv[1], buf, 4, 0));
	ASSERT_SYS_OK(dup(udp));
}

/* accept(2) makes its socket inside the kernel (kern=1), which is not checked. */
TEST_F(misc, unix_accept_unaffected)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len;
	int server, client, conn;
	char buf[4];

	snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "kh-accept-%d", getpid());
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
	server = (int)ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(bind(server, (struct sockaddr *)&a, len));
	ASSERT_SYS_OK(listen(server, 4));
	client = (int)ASSERT_SYS_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect(client, (struct sockaddr *)&a, len));
	sandbox_allowing(AF_INET6, SOCK_DGRAM, ANY);
	ASSERT_ERRNO(EACCES, socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	conn = (int)ASSERT_SYS_OK(accept(server, NULL, NULL));
	ASSERT_EQ(4, send(client, "ping", 4, 0));
	ASSERT_EQ(4, recv(conn, buf, 4, 0));
}

TEST_F(misc, tcp_accept_unaffected)
{
	int server, client, conn;

	net_ns_setup();
	server = tcp_listener(AF_INET, 8080);
	client = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(client, AF_INET, 8080));
	sandbox_allowing(AF_INET6, SOCK_DGRAM, ANY);
	ASSERT_ERRNO(EACCES, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	conn = (int)ASSERT_SYS_OK(accept(server, NULL, NULL));
	ASSERT_EQ(4, send(conn, "ping", 4, 0));
}
