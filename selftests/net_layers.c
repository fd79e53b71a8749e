/* net_layers.c: stacked network rulesets intersect, unhandled rights stay free, and domains pass to children and never loosen. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net_common.h"

#define BIND KH_LL_ACCESS_NET_BIND_TCP
#define CONNECT KH_LL_ACCESS_NET_CONNECT_TCP
#define BOTH (BIND | CONNECT)

enum { P = 8080, Q = 8081, R = 8082 };

NET_FAMILY_FIXTURE(layers);

/* One layer handling `handled` and allowing `access` on up to two ports (0 ends the list). */
static void layer(uint64_t handled, uint64_t access, uint64_t port1, uint64_t port2)
{
	uint64_t ports[2] = { port1, port2 };

	ll_sandbox_ports(handled, access, port2 ? 2 : (port1 ? 1 : 0), ports);
}

/* bind(port) on a fresh socket: 0 or the errno. */
static int try_bind(int family, uint16_t port)
{
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int err = bind_port(fd, family, port) < 0 ? errno : 0;

	close(fd);
	return err;
}

static int try_connect(int family, uint16_t port)
{
	int fd = (int)ASSERT_SYS_OK(socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
	int err = connect_port(fd, family, port) < 0 ? errno : 0;

	close(fd);
	return err;
}

static void expect_result(const char *what, int port, int want, int got)
{
	if (want != got)
		kh_fail_at(__FILE__, __LINE__, 0, "%s port %d: expected %s, got %s", what, port,
			   want ? kh_errno_name(want) : "success", got ? kh_errno_name(got) : "success");
}

#define CHECK_BIND(port, want) expect_result("bind", port, want, try_bind(variant->family, port))
#define CHECK_CONNECT(port, want) expect_result("connect", port, want, try_connect(variant->family, port))

TEST_F(layers, same_rule_twice_allows)
{
	layer(BIND, BIND, P, 0);
	layer(BIND, BIND, P, 0);
	CHECK_BIND(P, 0);
	CHECK_BIND(Q, EACCES);
}

/* KH_FLIP_ERRNO: these cases expect EPERM for the disjoint ports and fail. */
TEST_F(layers, disjoint_rules_deny_both)
{
	CHECK_BIND(P, 0);
	CHECK_BIND(Q, 0);
	layer(BIND, BIND, P, 0);
	layer(BIND, BIND, Q, 0);
	CHECK_BIND(P, KH_FLIPPED(EACCES, EPERM));
	CHECK_BIND(Q, KH_FLIPPED(EACCES, EPERM));
}

TEST_F(layers, overlap_allows_only_common_port)
{
	layer(BIND, BIND, P, Q);
	layer(BIND, BIND, Q, R);
	CHECK_BIND(P, EACCES);
	CHECK_BIND(Q, 0);
	CHECK_BIND(R, EACCES);
}

/* A second layer that adds CONNECT handling restricts connect only. */
TEST_F(layers, new_handled_right_restricts_only_that_right)
{
	tcp_listener(variant->family, P);
	tcp_listener(variant->family, Q);
	layer(BIND, BIND, R, 0);
	CHECK_CONNECT(P, 0);
	CHECK_CONNECT(Q, 0);
	layer(CONNECT, CONNECT, Q, 0);
	CHECK_CONNECT(P, EACCES);
	CHECK_CONNECT(Q, 0);
	CHECK_BIND(R, 0);
	CHECK_BIND(Q, EACCES);
}

TEST_F(layers, unhandled_layer_adds_no_constraint)
{
	tcp_listener(variant->family, P);
	layer(BOTH, BOTH, P, 0);
	layer(CONNECT, CONNECT, P, 0);
	/* The second layer does not handle BIND: the first layer's rule decides. */
	CHECK_BIND(Q, EACCES);
	CHECK_CONNECT(P, 0);
}

TEST_F(layers, later_layer_cannot_loosen)
{
	layer(BIND, BIND, P, 0);
	layer(BIND, BIND, P, Q);
	CHECK_BIND(P, 0);
	CHECK_BIND(Q, EACCES);
}

TEST_F(layers, domain_inherited_by_child)
{
	pid_t pid;
	int status;

	CHECK_BIND(Q, 0);
	layer(BIND, BIND, P, 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Assertions here fail the case and exit the child. */
		CHECK_BIND(P, 0);
		CHECK_BIND(Q, EACCES);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(layers, sixteen_layers_intersect)
{
	for (int i = 0; i < 15; i++)
		layer(BIND, BIND, P, Q);
	layer(BIND, BIND, Q, 0);
	CHECK_BIND(P, EACCES);
	CHECK_BIND(Q, 0);
	{
		int fd = ll_net_ruleset(BIND);

		ASSERT_ERRNO(E2BIG, kh_ll_restrict_self(fd, 0));
	}
}
