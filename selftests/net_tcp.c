/* net_tcp.c: TCP bind/connect enforcement per port, IPv4 and IPv6, protocol 0 and IPPROTO_TCP; AF_UNSPEC; privileged ports. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net_common.h"

#define BIND KH_LL_ACCESS_NET_BIND_TCP
#define CONNECT KH_LL_ACCESS_NET_CONNECT_TCP
#define BOTH (BIND | CONNECT)

enum { PORT = 8080, OTHER = 8081 };

/* One layer with one rule. */
static void sandbox(uint64_t handled, uint64_t access, uint64_t port)
{
	ll_sandbox_ports(handled, access, 1, &port);
}

/*
 * Every denial below is paired: the same action is done first without
 * the sandbox and must succeed, so EACCES is proven to come from Landlock.
 */
FIXTURE(tcp) {};
FIXTURE_VARIANT(tcp) { int family, protocol; };
FIXTURE_VARIANT_ADD(tcp, ipv4_proto0) { .family = AF_INET, .protocol = 0 };
FIXTURE_VARIANT_ADD(tcp, ipv4_ipproto_tcp) { .family = AF_INET, .protocol = IPPROTO_TCP };
FIXTURE_VARIANT_ADD(tcp, ipv6_proto0) { .family = AF_INET6, .protocol = 0 };
FIXTURE_VARIANT_ADD(tcp, ipv6_ipproto_tcp) { .family = AF_INET6, .protocol = IPPROTO_TCP };
SETUP(tcp)
{
	require_landlock(4);
	net_ns_setup();
}
TEARDOWN(tcp) {}

static int tcp_socket(const struct kh_var_tcp *v)
{
	return (int)ASSERT_SYS_OK(socket(v->family, SOCK_STREAM | SOCK_CLOEXEC, v->protocol));
}

/* Unsandboxed bind of a fresh socket must work. */
static void bind_ok(const struct kh_var_tcp *v, uint16_t port)
{
	int fd = tcp_socket(v);

	ASSERT_SYS_OK(bind_port(fd, v->family, port));
	close(fd);
}

static void bind_fails(const struct kh_var_tcp *v, uint16_t port, int err)
{
	int fd = tcp_socket(v);

	ASSERT_ERRNO(err, bind_port(fd, v->family, port));
	close(fd);
}

static void connect_ok(const struct kh_var_tcp *v, uint16_t port)
{
	int fd = tcp_socket(v);

	ASSERT_SYS_OK(connect_port(fd, v->family, port));
	close(fd);
}

static void connect_fails(const struct kh_var_tcp *v, uint16_t port, int err)
{
	int fd = tcp_socket(v);

	ASSERT_ERRNO(err, connect_port(fd, v->family, port));
	close(fd);
}

TEST_F(tcp, bind_allowed)
{
	sandbox(BOTH, BIND, PORT);
	bind_ok(variant, PORT);
}

TEST_F(tcp, bind_denied_with_connect_only_rule)
{
	bind_ok(variant, PORT);
	sandbox(BOTH, CONNECT, PORT);
	bind_fails(variant, PORT, EACCES);
}

/* KH_FLIP_ERRNO: these cases expect EPERM instead and so fail. */
TEST_F(tcp, bind_denied_without_rule)
{
	bind_ok(variant, PORT);
	sandbox(BOTH, BIND, OTHER);
	bind_fails(variant, PORT, KH_FLIPPED(EACCES, EPERM));
}

TEST_F(tcp, bind_and_connect_rule_allows_both)
{
	int server, client;

	sandbox(BOTH, BOTH, PORT);
	server = tcp_socket(variant);
	ASSERT_SYS_OK(bind_port(server, variant->family, PORT));
	ASSERT_SYS_OK(listen(server, 4));
	client = tcp_socket(variant);
	ASSERT_SYS_OK(connect_port(client, variant->family, PORT));
}

TEST_F(tcp, connect_allowed)
{
	tcp_listener(variant->family, PORT);
	sandbox(BOTH, CONNECT, PORT);
	connect_ok(variant, PORT);
}

TEST_F(tcp, connect_denied_with_bind_only_rule)
{
	tcp_listener(variant->family, PORT);
	connect_ok(variant, PORT);
	sandbox(BOTH, BIND, PORT);
	connect_fails(variant, PORT, EACCES);
}

TEST_F(tcp, connect_denied_without_rule)
{
	tcp_listener(variant->family, PORT);
	tcp_listener(variant->family, OTHER);
	connect_ok(variant, PORT);
	sandbox(BOTH, CONNECT, OTHER);
	connect_fails(variant, PORT, EACCES);
	connect_ok(variant, OTHER);
}

TEST_F(tcp, bind_unrestricted_when_not_handled)
{
	tcp_listener(variant->family, PORT);
	sandbox(CONNECT, CONNECT, OTHER);
	bind_ok(variant, OTHER);
	bind_ok(variant, 0);
	connect_fails(variant, PORT, EACCES);
}

/* bind(0) is checked against a rule for port 0, not the ephemeral port finally picked. */
TEST_F(tcp, bind_port0_denied_without_port0_rule)
{
	bind_ok(variant, 0);
	sandbox(BOTH, BIND, PORT);
	bind_fails(variant, 0, EACCES);
}

TEST_F(tcp, bind_port0_allowed_with_port0_rule)
{
	struct sock_addr got = { .len = sizeof(got.ss) };
	int fd;

	sandbox(BOTH, BIND, 0);
	fd = tcp_socket(variant);
	ASSERT_SYS_OK(bind_port(fd, variant->family, 0));
	ASSERT_SYS_OK(getsockname(fd, &got.sa, &got.len));
	/* The kernel picked a port that has no rule, and that is fine. */
	ASSERT_NE(0, variant->family == AF_INET ? got.in.sin_port : got.in6.sin6_port);
	bind_fails(variant, PORT, EACCES);
}

/* Rule ports are in host order: a rule written with htons() protects another port. */
TEST_F(tcp, rule_port_is_host_byte_order)
{
	const uint16_t port = 0x1234, swapped = 0x3412;

	/* An architecture fact, not a kernel one: on big-endian the two byte orders are the same port. */
	if (htons(port) == port)
		SKIP("big-endian host: htons() is the identity");
	ASSERT_EQ(swapped, htons(port));
	bind_ok(variant, port);
	sandbox(BOTH, BIND, htons(port));
	bind_fails(variant, port, EACCES);
	bind_ok(variant, swapped);
}

TEST_F(tcp, listen_accept_send_not_checked)
{
	int server = tcp_socket(variant), late = tcp_socket(variant), client, conn;
	char buf[4] = "ping";

	ASSERT_SYS_OK(bind_port(server, variant->family, PORT));
	ASSERT_SYS_OK(bind_port(late, variant->family, OTHER));
	ASSERT_SYS_OK(listen(server, 4));
	client = tcp_socket(variant);
	ASSERT_SYS_OK(connect_port(client, variant->family, PORT));
	sandbox(BOTH, BIND, 1);
	ASSERT_SYS_OK(listen(late, 4));
	conn = (int)ASSERT_SYS_OK(accept(server, NULL, NULL));
	ASSERT_EQ(4, send(client, buf, 4, 0));
	ASSERT_EQ(4, recv(conn, buf, 4, 0));
	ASSERT_EQ(4, send(conn, buf, 4, 0));
	ASSERT_EQ(4, recv(client, buf, 4, 0));
}

/*
 * sendto(MSG_FASTOPEN) connects, so it is checked like connect(2). Without a Fast Open cookie the
 * kernel sends a plain SYN and then the data, so on a blocking socket each call returns 1.
 */
TEST_F(tcp, fastopen_checked_as_connect)
{
	struct sock_addr denied = loopback_addr(variant->family, PORT);
	struct sock_addr allowed = loopback_addr(variant->family, OTHER);
	int fd, err;
	long r;

	tcp_listener(variant->family, PORT);
	tcp_listener(variant->family, OTHER);
	fd = tcp_socket(variant);
	ASSERT_EQ(1, sendto(fd, "x", 1, MSG_FASTOPEN, &denied.sa, denied.len));
	close(fd);

	sandbox(BOTH, CONNECT, OTHER);
	fd = tcp_socket(variant);
	errno = 0;
	r = sendto(fd, "x", 1, MSG_FASTOPEN, &denied.sa, denied.len);
	err = errno;
	if (r >= 0)
		MISSING_FIX(&ll_fix_tcp_fastopen,
			    "sandboxed sendto(MSG_FASTOPEN) to port %d, which has no connect rule, connected "
			    "unchecked (returned %ld)", PORT, r);
	/* Reached only when sendto failed: it must have failed with Landlock's EACCES. */
	if (err != EACCES)
		kh_fail_at(__FILE__, __LINE__, 1,
			   "sandboxed sendto(MSG_FASTOPEN) to port %d: expected EACCES, got %s", PORT,
			   kh_errno_name(err));
	close(fd);
	fd = tcp_socket(variant);
	ASSERT_EQ(1, sendto(fd, "x", 1, MSG_FASTOPEN, &allowed.sa, allowed.len));
}

/* Malformed addresses get the stack's EINVAL, not Landlock's EACCES. */
TEST_F(tcp, short_address_einval)
{
	struct sock_addr a = loopback_addr(variant->family, PORT);
	socklen_t too_short = a.len == sizeof(a.in6) ? 23 : (socklen_t)sizeof(a.in) - 1;
	int fd = tcp_socket(variant);

	ASSERT_ERRNO(EINVAL, bind(fd, &a.sa, 1));
	ASSERT_ERRNO(EINVAL, bind(fd, &a.sa, too_short));
	sandbox(BOTH, CONNECT, OTHER);
	ASSERT_ERRNO(EINVAL, bind(fd, &a.sa, 1));
	ASSERT_ERRNO(EINVAL, bind(fd, &a.sa, too_short));
	ASSERT_ERRNO(EINVAL, connect(fd, &a.sa, 1));
	ASSERT_ERRNO(EINVAL, connect(fd, &a.sa, too_short));
}

TEST_F(tcp, other_family_address_einval)
{
	int other = variant->family == AF_INET ? AF_INET6 : AF_INET;
	struct sock_addr a = loopback_addr(other, PORT);
	int fd = tcp_socket(variant);

	/* Unsandboxed the stack rejects it one way or another, never with EACCES. */
	errno = 0;
	ASSERT_GT(0, bind(fd, &a.sa, a.len));
	ASSERT_NE(EACCES, errno);
	sandbox(BOTH, CONNECT, OTHER);
	ASSERT_ERRNO(EINVAL, bind(fd, &a.sa, a.len));
	ASSERT_ERRNO(EINVAL, connect(fd, &a.sa, a.len));
}

/*
 * AF_UNSPEC: connect() with it disconnects and is always allowed; bind()
 * with it is AF_INET on an IPv4 socket for INADDR_ANY only (port checked),
 * else EAFNOSUPPORT. Kernels without "landlock: Fix TCP handling of short
 * AF_UNSPEC addresses" answered EINVAL in some of these cases: they SKIP,
 * naming the release, unless the release is known to carry the fix (FAIL).
 */
FIXTURE(unspec) {};
FIXTURE_VARIANT(unspec) {
	int family;
	int bind_any_allowed_err; /* bind(AF_UNSPEC, any, port with a rule) */
	int bind_any_denied_err;  /* bind(AF_UNSPEC, any, port without rule) */
};
FIXTURE_VARIANT_ADD(unspec, ipv4) {
	.family = AF_INET, .bind_any_allowed_err = 0, .bind_any_denied_err = EACCES,
};
FIXTURE_VARIANT_ADD(unspec, ipv6) {
	.family = AF_INET6, .bind_any_allowed_err = EAFNOSUPPORT, .bind_any_denied_err = EAFNOSUPPORT,
};
SETUP(unspec)
{
	require_landlock(4);
	net_ns_setup();
}
TEARDOWN(unspec) {}

static struct sock_addr unspec_addr(int family, uint16_t port, int any)
{
	struct sock_addr a = any ? any_addr(family, port) : loopback_addr(family, port);

	a.sa.sa_family = AF_UNSPEC;
	return a;
}

/* Checks a sandboxed result; the pre-fix EINVAL on IPv6 SKIPs on a kernel not known to carry the fix. */
static void expect_result(long r, int err, int want, int family, const char *what)
{
	int got = r < 0 ? err : 0;

	if (got == want)
		return;
	if (family == AF_INET6 && got == EINVAL && want == EAFNOSUPPORT)
		MISSING_FIX(&ll_fix_short_unspec, "%s: EINVAL instead of EAFNOSUPPORT", what);
	kh_fail_at(__FILE__, __LINE__, 1, "%s: expected %s, got %s", what,
		   want ? kh_errno_name(want) : "success", got ? kh_errno_name(got) : "success");
}

static int unspec_bind(int family, uint16_t port, int any, socklen_t len, int *err)
{
	struct sock_addr a = unspec_addr(family, port, any);
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int r;

	errno = 0;
	r = bind(fd, &a.sa, len ? len : a.len);
	*err = errno;
	close(fd);
	return r;
}

TEST_F(unspec, connect_disconnects)
{
	struct sock_addr a = unspec_addr(variant->family, 0, 1);
	int before, after;

	tcp_listener(variant->family, PORT);
	before = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(before, variant->family, PORT));
	ASSERT_SYS_OK(connect(before, &a.sa, a.len));
	sandbox(BOTH, CONNECT, PORT);
	after = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(after, variant->family, PORT));
	ASSERT_SYS_OK(connect(after, &a.sa, a.len));
}

TEST_F(unspec, connect_short_unspec_address)
{
	struct sock_addr a = unspec_addr(variant->family, 0, 1);
	int before, after, err;
	long r;

	tcp_listener(variant->family, PORT);
	before = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(before, variant->family, PORT));
	ASSERT_SYS_OK(connect(before, &a.sa, sizeof(sa_family_t)));
	sandbox(BOTH, CONNECT, PORT);
	after = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_SYS_OK(connect_port(after, variant->family, PORT));
	errno = 0;
	r = connect(after, &a.sa, sizeof(sa_family_t));
	err = errno;
	if (r < 0 && err == EINVAL)
		MISSING_FIX(&ll_fix_short_unspec,
			    "sandboxed connect(AF_UNSPEC) with a %zu-byte address: EINVAL instead of success",
			    sizeof(sa_family_t));
	/* The call must succeed: any other errno is a FAIL naming it. */
	if (r < 0)
		kh_fail_at(__FILE__, __LINE__, 1,
			   "sandboxed connect(AF_UNSPEC) with a %zu-byte address failed with %s",
			   sizeof(sa_family_t), kh_errno_name(err));
}

TEST_F(unspec, bind_any_port_checked)
{
	int err, r;

	r = unspec_bind(variant->family, PORT, 1, 0, &err);
	expect_result(r, err, variant->bind_any_allowed_err, AF_INET, "unsandboxed bind(AF_UNSPEC, any)");
	sandbox(BOTH, BIND, PORT);
	r = unspec_bind(variant->family, PORT, 1, 0, &err);
	expect_result(r, err, variant->bind_any_allowed_err, variant->family,
		      "bind(AF_UNSPEC, any, port with a rule)");
	r = unspec_bind(variant->family, OTHER, 1, 0, &err);
	expect_result(r, err, variant->bind_any_denied_err, variant->family,
		      "bind(AF_UNSPEC, any, port without a rule)");
}

TEST_F(unspec, bind_not_any_eafnosupport)
{
	int err, r;

	r = unspec_bind(variant->family, PORT, 0, 0, &err);
	expect_result(r, err, EAFNOSUPPORT, AF_INET, "unsandboxed bind(AF_UNSPEC, loopback)");
	sandbox(BOTH, BIND, PORT);
	r = unspec_bind(variant->family, PORT, 0, 0, &err);
	expect_result(r, err, EAFNOSUPPORT, variant->family, "bind(AF_UNSPEC, loopback)");
}

TEST_F(unspec, bind_short_unspec_einval)
{
	int err, r;

	r = unspec_bind(variant->family, PORT, 1, sizeof(sa_family_t), &err);
	expect_result(r, err, EINVAL, AF_INET, "unsandboxed bind(AF_UNSPEC, 2 bytes)");
	sandbox(BOTH, BIND, PORT);
	r = unspec_bind(variant->family, PORT, 1, sizeof(sa_family_t), &err);
	expect_result(r, err, EINVAL, variant->family, "bind(AF_UNSPEC, 2 bytes)");
}

/* A Landlock allow never overrides the stack's own privileged-port check. */
NET_FAMILY_FIXTURE(privileged);

static int priv_bind(int family, uint16_t port)
{
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int r = bind_port(fd, family, port);
	int err = errno;

	close(fd);
	errno = err;
	return r;
}

TEST_F(privileged, allowed_port_without_cap_denied)
{
	ASSERT_SYS_OK(priv_bind(variant->family, 80));
	drop_capability(KH_CAP_NET_BIND_SERVICE);
	ASSERT_ERRNO(EACCES, priv_bind(variant->family, 80));
	sandbox(BOTH, BIND, 80);
	ASSERT_ERRNO(EACCES, priv_bind(variant->family, 80));
}

TEST_F(privileged, allowed_port_with_cap_allowed)
{
	sandbox(BOTH, BIND, 80);
	ASSERT_SYS_OK(priv_bind(variant->family, 80));
}

TEST_F(privileged, unprivileged_port_without_cap_allowed)
{
	drop_capability(KH_CAP_NET_BIND_SERVICE);
	sandbox(BOTH, BIND, PORT);
	ASSERT_SYS_OK(priv_bind(variant->family, PORT));
}

TEST_F(privileged, cap_does_not_bypass_landlock)
{
	ASSERT_SYS_OK(priv_bind(variant->family, 80));
	sandbox(BOTH, BIND, PORT);
	ASSERT_ERRNO(EACCES, priv_bind(variant->family, 80));
}
