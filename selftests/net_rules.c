/* net_rules.c: building network rulesets and NET_PORT rules: which rights and ports are accepted, and the errno of each rejection. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "net_common.h"

static int ruleset_handling(uint64_t fs, uint64_t net)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = fs, .handled_access_net = net };

	return (int)kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_NET, 0);
}

static long add_port_rule(int fd, uint64_t access, uint64_t port)
{
	struct kh_ll_net_port_attr rule = { .allowed_access = access, .port = port };

	return kh_ll_add_rule(fd, KH_LL_RULE_NET_PORT, &rule, 0);
}

/* Each known network right, alone. */
FIXTURE(known_bit) { int abi; };
FIXTURE_VARIANT(known_bit) { uint64_t access, other; };
FIXTURE_VARIANT_ADD(known_bit, bind_tcp) {
	.access = KH_LL_ACCESS_NET_BIND_TCP, .other = KH_LL_ACCESS_NET_CONNECT_TCP,
};
FIXTURE_VARIANT_ADD(known_bit, connect_tcp) {
	.access = KH_LL_ACCESS_NET_CONNECT_TCP, .other = KH_LL_ACCESS_NET_BIND_TCP,
};
SETUP(known_bit) { self->abi = require_landlock(4); }
TEARDOWN(known_bit) {}

TEST_F(known_bit, ruleset_accepts)
{
	ASSERT_SYS_OK(ruleset_handling(0, variant->access));
}

TEST_F(known_bit, rule_accepts)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, variant->access));

	ASSERT_SYS_OK(add_port_rule(fd, variant->access, 8080));
}

TEST_F(known_bit, rule_with_unhandled_right_einval)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, variant->access));

	ASSERT_ERRNO(EINVAL, add_port_rule(fd, variant->other, 8080));
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, variant->access | variant->other, 8080));
}

/* Bits beyond what the running kernel's ABI defines. */
FIXTURE(unknown_bits) { uint64_t known; };
SETUP(unknown_bits) { self->known = ll_known_net_access(require_landlock(4)); }
TEARDOWN(unknown_bits) {}

TEST_F(unknown_bits, all_known_accepted)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, self->known));

	ASSERT_SYS_OK(add_port_rule(fd, self->known, 8080));
}

/* The known bits are accepted by all_known_accepted; every other bit of the 64 must be refused, each checked. */
TEST_F(unknown_bits, ruleset_rejects_each)
{
	for (int bit = 0; bit < 64; bit++) {
		uint64_t b = 1ULL << bit;

		if (self->known & b)
			continue;
		errno = 0;
		if (ruleset_handling(0, self->known | b) >= 0 || errno != EINVAL)
			kh_fail_at(__FILE__, __LINE__, 0,
				   "ruleset handling net bit %d: expected EINVAL, got %s", bit,
				   errno ? kh_errno_name(errno) : "success");
	}
}

TEST_F(unknown_bits, rule_rejects_each)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, self->known));

	for (int bit = 0; bit < 64; bit++) {
		uint64_t b = 1ULL << bit;

		if (self->known & b)
			continue;
		errno = 0;
		if (add_port_rule(fd, b, 8080) >= 0 || errno != EINVAL)
			kh_fail_at(__FILE__, __LINE__, 0, "rule with net bit %d: expected EINVAL, got %s",
				   bit, errno ? kh_errno_name(errno) : "success");
		errno = 0;
		if (add_port_rule(fd, self->known | b, 8080) >= 0 || errno != EINVAL)
			kh_fail_at(__FILE__, __LINE__, 0,
				   "rule with known bits + net bit %d: expected EINVAL, got %s", bit,
				   errno ? kh_errno_name(errno) : "success");
	}
}

TEST_F(unknown_bits, empty_allowed_access_enomsg)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, self->known));

	ASSERT_ERRNO(ENOMSG, add_port_rule(fd, 0, 8080));
}

TEST_F(unknown_bits, null_rule_efault)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, self->known));

	ASSERT_ERRNO(EFAULT, kh_ll_add_rule(fd, KH_LL_RULE_NET_PORT, NULL, 0));
}

TEST_F(unknown_bits, fs_only_ruleset_rejects_net_rule)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(KH_LL_ACCESS_FS_EXECUTE, 0));

	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 8080));
}

/* Port values: the rule's port is a u64 in host order; only 0..65535 fit. */
FIXTURE(port) {};
FIXTURE_VARIANT(port) { uint64_t port; int err; };
FIXTURE_VARIANT_ADD(port, p0) { .port = 0 };
FIXTURE_VARIANT_ADD(port, p1) { .port = 1 };
FIXTURE_VARIANT_ADD(port, p65535) { .port = 65535 };
/* KH_FLIP_ERRNO: the p65536 cases expect ERANGE instead and so fail. */
FIXTURE_VARIANT_ADD(port, p65536) { .port = 65536, .err = KH_FLIPPED(EINVAL, ERANGE) };
FIXTURE_VARIANT_ADD(port, p2_32) { .port = 1ULL << 32, .err = EINVAL };
FIXTURE_VARIANT_ADD(port, p2_32_plus_1) { .port = (1ULL << 32) + 1, .err = EINVAL };
FIXTURE_VARIANT_ADD(port, p2_63) { .port = 1ULL << 63, .err = EINVAL };
FIXTURE_VARIANT_ADD(port, u64_max) { .port = UINT64_MAX, .err = EINVAL };
SETUP(port) { require_landlock(4); }
TEARDOWN(port) {}

static void check_port_rule(uint64_t access, uint64_t port, int err)
{
	int fd = (int)ASSERT_SYS_OK(ruleset_handling(0, access));

	if (err)
		ASSERT_ERRNO(err, add_port_rule(fd, access, port));
	else
		ASSERT_SYS_OK(add_port_rule(fd, access, port));
}

TEST_F(port, bind_rule)
{
	check_port_rule(KH_LL_ACCESS_NET_BIND_TCP, variant->port, variant->err);
}

TEST_F(port, connect_rule)
{
	check_port_rule(KH_LL_ACCESS_NET_CONNECT_TCP, variant->port, variant->err);
}

/* Rejected rules leave nothing behind: enforcement is still exact afterwards. */
FIXTURE(after_rejects) {};
SETUP(after_rejects)
{
	require_landlock(4);
	net_ns_setup();
}
TEARDOWN(after_rejects) {}

/* Binds port p unsandboxed (must work) and then checks it again in the sandbox. */
static void bind_works(uint16_t port)
{
	int fd = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));

	ASSERT_SYS_OK(bind_port(fd, AF_INET, port));
	close(fd);
}

TEST_F(after_rejects, interleaved_out_of_range_ports)
{
	const uint16_t denied[] = { 0, 1, 8003 };
	int fd;

	/* Unsandboxed, every port binds (root may bind port 1). */
	bind_works(8001);
	bind_works(8002);
	for (unsigned i = 0; i < sizeof(denied) / sizeof(denied[0]); i++)
		bind_works(denied[i]);

	fd = (int)ASSERT_SYS_OK(ruleset_handling(0, KH_LL_ACCESS_NET_BIND_TCP));
	ASSERT_SYS_OK(add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 8001));
	/* Each would alias a valid port if truncated to 16 bits: 0, 1, 8003. */
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 65536));
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, (1ULL << 32) + 1));
	ASSERT_SYS_OK(add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 8002));
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, (1ULL << 32) + 8003));
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 65536 + 8003));
	ll_enforce(fd);

	bind_works(8001);
	bind_works(8002);
	for (unsigned i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		int s = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));

		EXPECT_ERRNO(EACCES, bind_port(s, AF_INET, denied[i]));
		close(s);
	}
}

TEST_F(after_rejects, rule_with_unhandled_right_not_added)
{
	int fd;

	bind_works(8004);
	fd = (int)ASSERT_SYS_OK(ruleset_handling(0, KH_LL_ACCESS_NET_BIND_TCP));
	ASSERT_ERRNO(EINVAL, add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP |
							KH_LL_ACCESS_NET_CONNECT_TCP, 8004));
	ASSERT_ERRNO(ENOMSG, add_port_rule(fd, 0, 8004));
	ll_enforce(fd);
	fd = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, bind_port(fd, AF_INET, 8004));
}

TEST_F(after_rejects, rules_for_one_port_are_ored)
{
	int fd, server, client;

	fd = (int)ASSERT_SYS_OK(ruleset_handling(0, KH_LL_ACCESS_NET_BIND_TCP |
						       KH_LL_ACCESS_NET_CONNECT_TCP));
	ASSERT_SYS_OK(add_port_rule(fd, KH_LL_ACCESS_NET_BIND_TCP, 8005));
	ASSERT_SYS_OK(add_port_rule(fd, KH_LL_ACCESS_NET_CONNECT_TCP, 8005));
	ll_enforce(fd);
	server = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(bind_port(server, AF_INET, 8005));
	ASSERT_SYS_OK(listen(server, 4));
	client = (int)ASSERT_SYS_OK(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(client, AF_INET, 8005));
}
