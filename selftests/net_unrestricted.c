/* net_unrestricted.c: sockets the TCP rights never restrict (UDP, UNIX, MPTCP with erratum 1) and rulesets handling no net right. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_common.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

#define BOTH (KH_LL_ACCESS_NET_BIND_TCP | KH_LL_ACCESS_NET_CONNECT_TCP)

enum { PORT = 8080, RULE_PORT = 9 };

/*
 * The sandbox handles both TCP rights and allows only a port nobody uses,
 * so any TCP bind/connect in these tests would be denied. Each case also
 * checks that a TCP bind IS denied, proving the sandbox is in force.
 */
static void sandbox_tcp_closed(void)
{
	uint64_t port = RULE_PORT;

	ll_sandbox_ports(BOTH, KH_LL_ACCESS_NET_BIND_TCP, 1, &port);
}

/* KH_FLIP_ERRNO: every case calling this (all but mptcp and no_net_rights) expects EPERM and fails. */
static void tcp_bind_is_denied(int family)
{
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));

	ASSERT_ERRNO(KH_FLIPPED(EACCES, EPERM), bind_port(fd, family, PORT));
	close(fd);
}

NET_FAMILY_FIXTURE(udp);

static int udp_socket(int family)
{
	return (int)ASSERT_SYS_OK(socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
}

TEST_F(udp, bind)
{
	int fd;

	sandbox_tcp_closed();
	fd = udp_socket(variant->family);
	ASSERT_SYS_OK(bind_port(fd, variant->family, PORT));
	tcp_bind_is_denied(variant->family);
}

TEST_F(udp, connect)
{
	int fd;

	sandbox_tcp_closed();
	fd = udp_socket(variant->family);
	ASSERT_SYS_OK(connect_port(fd, variant->family, PORT));
	tcp_bind_is_denied(variant->family);
}

TEST_F(udp, sendto_and_recv)
{
	struct sock_addr to = loopback_addr(variant->family, PORT);
	int server, client;
	char buf[4];

	sandbox_tcp_closed();
	server = udp_socket(variant->family);
	ASSERT_SYS_OK(bind_port(server, variant->family, PORT));
	client = udp_socket(variant->family);
	ASSERT_EQ(4, sendto(client, "ping", 4, 0, &to.sa, to.len));
	ASSERT_EQ(4, recv(server, buf, sizeof(buf), 0));
	tcp_bind_is_denied(variant->family);
}

/* UNIX sockets, pathname and abstract. */
FIXTURE(unix_socket) { char path[108]; };
FIXTURE_VARIANT(unix_socket) { int type; };
FIXTURE_VARIANT_ADD(unix_socket, stream) { .type = SOCK_STREAM };
FIXTURE_VARIANT_ADD(unix_socket, dgram) { .type = SOCK_DGRAM };
SETUP(unix_socket)
{
	require_landlock(4);
	net_ns_setup();
	snprintf(self->path, sizeof(self->path), "/tmp/kh-unix-%d", getpid());
}
TEARDOWN(unix_socket)
{
	unlink(self->path);
}

static void unix_bind_connect(int type, const struct sockaddr_un *a, socklen_t len)
{
	int server = (int)ASSERT_SYS_OK(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
	int client = (int)ASSERT_SYS_OK(socket(AF_UNIX, type | SOCK_CLOEXEC, 0));

	ASSERT_SYS_OK(bind(server, (const struct sockaddr *)a, len));
	/* Only a stream socket listens; a datagram socket has nothing to check here. */
	if (type == SOCK_STREAM)
		ASSERT_SYS_OK(listen(server, 4));
	ASSERT_SYS_OK(connect(client, (const struct sockaddr *)a, len));
	ASSERT_EQ(4, send(client, "ping", 4, 0));
}

TEST_F(unix_socket, pathname_bind_connect)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	strcpy(a.sun_path, self->path);
	sandbox_tcp_closed();
	unix_bind_connect(variant->type, &a, sizeof(a));
	tcp_bind_is_denied(AF_INET);
}

TEST_F(unix_socket, abstract_bind_connect)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
				    strlen(self->path));

	/* An abstract name: a leading NUL, then bytes; the length says where it ends. */
	memcpy(a.sun_path + 1, self->path, strlen(self->path));
	sandbox_tcp_closed();
	unix_bind_connect(variant->type, &a, len);
	tcp_bind_is_denied(AF_INET);
}

TEST_F(unix_socket, socketpair)
{
	int sv[2];
	char buf[4];

	sandbox_tcp_closed();
	ASSERT_SYS_OK(socketpair(AF_UNIX, variant->type | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(4, send(sv[0], "ping", 4, 0));
	ASSERT_EQ(4, recv(sv[1], buf, 4, 0));
	tcp_bind_is_denied(AF_INET);
}

/* MPTCP is a stream socket of its own protocol; since erratum 1 the TCP rights ignore it. */
FIXTURE(mptcp) {};
FIXTURE_VARIANT(mptcp) { int family; };
FIXTURE_VARIANT_ADD(mptcp, ipv4) { .family = AF_INET };
FIXTURE_VARIANT_ADD(mptcp, ipv6) { .family = AF_INET6 };
SETUP(mptcp)
{
	long errata;
	int fd;

	require_landlock(4);
	/* Without the errata query (and not known to have it) SKIPs: erratum 1 cannot be asked for. */
	errata = require_errata();
	if (!(errata & KH_LL_ERRATUM_TCP_ONLY))
		SKIP("kernel lacks Landlock erratum 1 (errata mask %#lx: MPTCP is restricted as TCP)", errata);
	net_ns_setup();
	fd = socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
	if (fd < 0 && errno == EPROTONOSUPPORT)
		SKIP("kernel without MPTCP for %s (socket: EPROTONOSUPPORT; CONFIG_MPTCP%s)",
		     family_name(variant->family), variant->family == AF_INET6 ? "_IPV6" : "");
	if (fd < 0 && errno == ENOPROTOOPT)
		SKIP("MPTCP is disabled in this network namespace (socket: ENOPROTOOPT; net.mptcp.enabled=0)");
	if (fd < 0)
		kh_fail_at(__FILE__, __LINE__, 1, "socket(%s, SOCK_STREAM, IPPROTO_MPTCP) failed with %s",
			   family_name(variant->family), kh_errno_name(errno));
	close(fd);
}
TEARDOWN(mptcp) {}

static int mptcp_socket(int family)
{
	return (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP));
}

TEST_F(mptcp, bind)
{
	int fd;

	sandbox_tcp_closed();
	fd = mptcp_socket(variant->family);
	ASSERT_SYS_OK(bind_port(fd, variant->family, PORT));
	fd = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, bind_port(fd, variant->family, PORT + 1));
}

TEST_F(mptcp, connect)
{
	int server = mptcp_socket(variant->family), client;

	ASSERT_SYS_OK(bind_port(server, variant->family, PORT));
	ASSERT_SYS_OK(listen(server, 4));
	sandbox_tcp_closed();
	client = mptcp_socket(variant->family);
	ASSERT_SYS_OK(connect_port(client, variant->family, PORT));
	client = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	ASSERT_ERRNO(EACCES, connect_port(client, variant->family, PORT));
}

/* A ruleset that handles no network right leaves TCP alone. */
FIXTURE(no_net_rights) {};
FIXTURE_VARIANT(no_net_rights) { int family; };
FIXTURE_VARIANT_ADD(no_net_rights, ipv4) { .family = AF_INET };
FIXTURE_VARIANT_ADD(no_net_rights, ipv6) { .family = AF_INET6 };
SETUP(no_net_rights)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = KH_LL_ACCESS_FS_EXECUTE };

	require_landlock(4);
	net_ns_setup();
	ll_enforce((int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_NET, 0)));
}
TEARDOWN(no_net_rights) {}

TEST_F(no_net_rights, tcp_bind)
{
	int fd = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));

	ASSERT_SYS_OK(bind_port(fd, variant->family, PORT));
}

TEST_F(no_net_rights, tcp_connect)
{
	int server = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int client = (int)ASSERT_SYS_OK(socket(variant->family, SOCK_STREAM | SOCK_CLOEXEC, 0));

	ASSERT_SYS_OK(bind_port(server, variant->family, PORT));
	ASSERT_SYS_OK(listen(server, 4));
	ASSERT_SYS_OK(connect_port(client, variant->family, PORT));
}
