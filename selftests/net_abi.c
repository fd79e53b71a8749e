/* net_abi.c: Landlock ABI and errata queries, and the errors of the three syscalls that need no network rule. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "net_common.h"

/* The query interface: landlock_create_ruleset(NULL, 0, flags). */
FIXTURE(abi) { int abi; };
SETUP(abi) { self->abi = require_landlock(1); }
TEARDOWN(abi) {}

TEST_F(abi, version)
{
	ASSERT_LE(1, self->abi);
	ASSERT_EQ(self->abi, kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_VERSION));
	TH_LOG("Landlock ABI %d", self->abi);
}

TEST_F(abi, version_rejects_attr)
{
	struct kh_ll_ruleset_attr attr = { 0 };

	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(&attr, 0, KH_LL_CREATE_RULESET_VERSION));
}

TEST_F(abi, version_rejects_size)
{
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(NULL, KH_LL_RULESET_SIZE_FS,
						  KH_LL_CREATE_RULESET_VERSION));
}

TEST_F(abi, unknown_flag)
{
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(NULL, 0, 1U << 31));
}

TEST_F(abi, version_and_errata_together)
{
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(NULL, 0, KH_LL_CREATE_RULESET_VERSION |
								    KH_LL_CREATE_RULESET_ERRATA));
}

TEST_F(abi, errata)
{
	long errata = require_errata();

	TH_LOG("Landlock errata mask %#lx", errata);
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(NULL, KH_LL_RULESET_SIZE_FS,
						  KH_LL_CREATE_RULESET_ERRATA));
}

/* Creating rulesets: size and content checks. */
FIXTURE(ruleset) { char buf[8192]; };
SETUP(ruleset)
{
	require_landlock(1);
	memset(self->buf, 0, sizeof(self->buf));
	/* Some handled right that every ABI knows. */
	((struct kh_ll_ruleset_attr *)self->buf)->handled_access_fs = KH_LL_ACCESS_FS_EXECUTE;
}
TEARDOWN(ruleset) {}

TEST_F(ruleset, minimal_ok)
{
	ASSERT_SYS_OK(kh_ll_create_ruleset(self->buf, KH_LL_RULESET_SIZE_FS, 0));
}

/* KH_FLIP_ERRNO: this case expects EINVAL instead and so fails. */
TEST_F(ruleset, empty_enomsg)
{
	struct kh_ll_ruleset_attr attr = { 0 };

	ASSERT_ERRNO(KH_FLIPPED(ENOMSG, EINVAL),
		     kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_FS, 0));
}

TEST_F(ruleset, null_attr_efault)
{
	ASSERT_ERRNO(EFAULT, kh_ll_create_ruleset(NULL, KH_LL_RULESET_SIZE_FS, 0));
}

TEST_F(ruleset, size_too_small)
{
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(self->buf, 4, 0));
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(self->buf, 0, 0));
}

TEST_F(ruleset, oversized_zero_tail_ok)
{
	ASSERT_SYS_OK(kh_ll_create_ruleset(self->buf, 256, 0));
}

TEST_F(ruleset, oversized_nonzero_tail_e2big)
{
	self->buf[255] = 1;
	ASSERT_ERRNO(E2BIG, kh_ll_create_ruleset(self->buf, 256, 0));
}

TEST_F(ruleset, beyond_page_e2big)
{
	ASSERT_ERRNO(E2BIG, kh_ll_create_ruleset(self->buf, (size_t)sysconf(_SC_PAGESIZE) + 8, 0));
}

TEST_F(ruleset, unknown_fs_bit)
{
	((struct kh_ll_ruleset_attr *)self->buf)->handled_access_fs |= 1ULL << 63;
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(self->buf, KH_LL_RULESET_SIZE_FS, 0));
}

TEST_F(ruleset, flags_with_attr)
{
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(self->buf, KH_LL_RULESET_SIZE_FS, 1U << 31));
	ASSERT_ERRNO(EINVAL, kh_ll_create_ruleset(self->buf, KH_LL_RULESET_SIZE_FS,
						  KH_LL_CREATE_RULESET_VERSION));
}

/* Adding rules: the checks that come before the rule type is looked at. */
FIXTURE(add_rule) { int ruleset; };
SETUP(add_rule)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = KH_LL_ACCESS_FS_EXECUTE };

	require_landlock(1);
	self->ruleset = (int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_FS, 0));
}
TEARDOWN(add_rule)
{
	close(self->ruleset);
}

TEST_F(add_rule, flags_checked_first)
{
	ASSERT_ERRNO(EINVAL, kh_ll_add_rule(self->ruleset, 1000, NULL, 1));
	/* Even before the fd. */
	ASSERT_ERRNO(EINVAL, kh_ll_add_rule(-1, 1000, NULL, 1));
}

TEST_F(add_rule, bad_fd)
{
	ASSERT_ERRNO(EBADF, kh_ll_add_rule(-1, 1000, NULL, 0));
}

TEST_F(add_rule, not_a_ruleset)
{
	int fd = (int)ASSERT_SYS_OK(open("/dev/null", O_RDWR | O_CLOEXEC));

	ASSERT_ERRNO(EBADFD, kh_ll_add_rule(fd, 1000, NULL, 0));
}

TEST_F(add_rule, unknown_rule_type)
{
	ASSERT_ERRNO(EINVAL, kh_ll_add_rule(self->ruleset, 0, NULL, 0));
	ASSERT_ERRNO(EINVAL, kh_ll_add_rule(self->ruleset, 1000, NULL, 0));
}

/* Enforcing: landlock_restrict_self. */
FIXTURE(restrict_self) { int ruleset; };
SETUP(restrict_self)
{
	struct kh_ll_ruleset_attr attr = { .handled_access_fs = KH_LL_ACCESS_FS_EXECUTE };

	require_landlock(1);
	self->ruleset = (int)ASSERT_SYS_OK(kh_ll_create_ruleset(&attr, KH_LL_RULESET_SIZE_FS, 0));
}
TEARDOWN(restrict_self)
{
	close(self->ruleset);
}

TEST_F(restrict_self, needs_no_new_privs_or_cap)
{
	drop_capability(KH_CAP_SYS_ADMIN);
	ASSERT_ERRNO(EPERM, kh_ll_restrict_self(self->ruleset, 0));
	/* The same call with no_new_privs succeeds. */
	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_SYS_OK(kh_ll_restrict_self(self->ruleset, 0));
}

TEST_F(restrict_self, unknown_flag)
{
	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_ERRNO(EINVAL, kh_ll_restrict_self(self->ruleset, 1U << 31));
}

TEST_F(restrict_self, bad_fd)
{
	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_ERRNO(EBADF, kh_ll_restrict_self(-1, 0));
}

TEST_F(restrict_self, not_a_ruleset)
{
	int fd = (int)ASSERT_SYS_OK(open("/dev/null", O_RDWR | O_CLOEXEC));

	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	ASSERT_ERRNO(EBADFD, kh_ll_restrict_self(fd, 0));
}

TEST_F(restrict_self, sixteen_layers_max)
{
	ASSERT_SYS_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	for (int i = 0; i < 16; i++)
		ASSERT_SYS_OK(kh_ll_restrict_self(self->ruleset, 0));
	ASSERT_ERRNO(E2BIG, kh_ll_restrict_self(self->ruleset, 0));
}
