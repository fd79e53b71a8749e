/* kh_test.h: kharness's C test framework: fixtures, variants, assertions, one forked process per case, KTAP out. */
#ifndef KH_TEST_H
#define KH_TEST_H

#include <errno.h>
#include <stddef.h>

/*
 * A test program is a set of fixtures. A fixture has a data struct (one
 * zeroed instance per case, passed as `self`), SETUP and TEARDOWN, an
 * optional table of variants (each a struct passed as `variant`), and
 * TEST_F bodies. Every (variant, test) pair is one case named
 * "fixture.variant.test" ("fixture.test" when the fixture has no variants),
 * and each case runs in its own forked process with its own timeout.
 *
 *   FIXTURE(tcp) { int server; };
 *   FIXTURE_VARIANT(tcp) { int family; };
 *   FIXTURE_VARIANT_ADD(tcp, ipv4) { .family = AF_INET };
 *   SETUP(tcp) { self->server = -1; }
 *   TEARDOWN(tcp) { }
 *   TEST_F(tcp, bind_allowed) { ASSERT_SYS_OK(bind(...)); }
 *
 * ASSERT_* stop the case (teardown still runs when setup finished);
 * EXPECT_* record a failure and go on. SKIP(fmt, ...) ends the case as
 * skipped with a reason, unless an expectation already failed.
 * Assertions may be used in processes the case forks: a failure there marks
 * the case failed and exits that process.
 */

struct kh_fixture {
	const char *name;
	struct kh_variant *variants;
	struct kh_test *tests;
	struct kh_fixture *next;
};

struct kh_variant {
	const char *name;
	const void *data;
	struct kh_variant *next;
};

struct kh_test {
	const char *name;
	struct kh_fixture *fixture;
	size_t self_size;
	void (*setup)(void *self, const void *variant);
	void (*teardown)(void *self, const void *variant);
	void (*body)(void *self, const void *variant);
	unsigned int timeout_s; /* 0: the default */
	struct kh_test *next;
};

void kh_register_fixture(struct kh_fixture *f);
void kh_register_variant(struct kh_fixture *f, struct kh_variant *v);
void kh_register_test(struct kh_test *t);

/* Outcome reporting; all usable from the case process or its children. */
void kh_fail_at(const char *file, int line, int fatal, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void kh_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void kh_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes the whole formatted line to stdout in one write(2), so forked processes never interleave. */
void kh_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "EACCES", or "errno 1234" for one the table lacks. */
const char *kh_errno_name(int err);
const char *kh_signal_name(int sig);

/* ---- declaring fixtures, variants and tests ---- */

#define FIXTURE(fx)                                                        \
	struct kh_self_##fx;                                               \
	struct kh_var_##fx;                                                \
	static struct kh_fixture kh_fixture_##fx = { .name = #fx };        \
	__attribute__((constructor)) static void kh_reg_fixture_##fx(void) \
	{                                                                  \
		kh_register_fixture(&kh_fixture_##fx);                     \
	}                                                                  \
	struct kh_self_##fx

#define FIXTURE_VARIANT(fx) struct kh_var_##fx

#define FIXTURE_VARIANT_ADD(fx, vname)                                       \
	static const struct kh_var_##fx kh_vdata_##fx##_##vname;             \
	static struct kh_variant kh_variant_##fx##_##vname = {               \
		.name = #vname, .data = &kh_vdata_##fx##_##vname };          \
	__attribute__((constructor)) static void kh_reg_var_##fx##_##vname(void) \
	{                                                                    \
		kh_register_variant(&kh_fixture_##fx,                        \
				    &kh_variant_##fx##_##vname);             \
	}                                                                    \
	static const struct kh_var_##fx kh_vdata_##fx##_##vname =

#define KH_UNUSED __attribute__((unused))

#define SETUP(fx)                                                              \
	static void kh_setup_##fx(struct kh_self_##fx *self KH_UNUSED,         \
				  const struct kh_var_##fx *variant KH_UNUSED)

#define TEARDOWN(fx)                                                           \
	static void kh_teardown_##fx(struct kh_self_##fx *self KH_UNUSED,      \
				     const struct kh_var_##fx *variant KH_UNUSED)

#define TEST_F_TIMEOUT(fx, tname, seconds)                                       \
	static void kh_body_##fx##_##tname(struct kh_self_##fx *self,            \
					   const struct kh_var_##fx *variant);   \
	static struct kh_test kh_test_##fx##_##tname = {                         \
		.name = #tname,                                                  \
		.fixture = &kh_fixture_##fx,                                     \
		.self_size = sizeof(struct kh_self_##fx),                        \
		.setup = (void (*)(void *, const void *))kh_setup_##fx,          \
		.teardown = (void (*)(void *, const void *))kh_teardown_##fx,    \
		.body = (void (*)(void *, const void *))kh_body_##fx##_##tname,  \
		.timeout_s = (seconds),                                          \
	};                                                                       \
	__attribute__((constructor)) static void kh_reg_test_##fx##_##tname(void) \
	{                                                                        \
		kh_register_test(&kh_test_##fx##_##tname);                       \
	}                                                                        \
	static void kh_body_##fx##_##tname(                                      \
		struct kh_self_##fx *self KH_UNUSED,                             \
		const struct kh_var_##fx *variant KH_UNUSED)

#define TEST_F(fx, tname) TEST_F_TIMEOUT(fx, tname, 0)

/* ---- outcomes ---- */

#define SKIP(...) kh_skip(__VA_ARGS__)

/* Adds a "# " diagnostic line to the case's output. */
#define TH_LOG(...) kh_diag(__VA_ARGS__)

#define KH_CMP(fatal, op, a, b, as, bs)                                                     \
	do {                                                                          \
		long long kh_a_ = (long long)(a), kh_b_ = (long long)(b);             \
		if (!(kh_a_ op kh_b_))                                                \
			kh_fail_at(__FILE__, __LINE__, fatal,                         \
				   "expected %s " #op " %s, got %lld " #op " %lld",    \
				   as, bs, kh_a_, kh_b_);                             \
	} while (0)

/* ASSERT_EQ(expected, got); the others read left to right: ASSERT_LE(0, fd) is 0 <= fd. */
#define ASSERT_EQ(a, b) KH_CMP(1, ==, a, b, #a, #b)
#define ASSERT_NE(a, b) KH_CMP(1, !=, a, b, #a, #b)
#define ASSERT_LT(a, b) KH_CMP(1, <, a, b, #a, #b)
#define ASSERT_LE(a, b) KH_CMP(1, <=, a, b, #a, #b)
#define ASSERT_GT(a, b) KH_CMP(1, >, a, b, #a, #b)
#define ASSERT_GE(a, b) KH_CMP(1, >=, a, b, #a, #b)
#define EXPECT_EQ(a, b) KH_CMP(0, ==, a, b, #a, #b)
#define EXPECT_NE(a, b) KH_CMP(0, !=, a, b, #a, #b)
#define EXPECT_LT(a, b) KH_CMP(0, <, a, b, #a, #b)
#define EXPECT_LE(a, b) KH_CMP(0, <=, a, b, #a, #b)
#define EXPECT_GT(a, b) KH_CMP(0, >, a, b, #a, #b)
#define EXPECT_GE(a, b) KH_CMP(0, >=, a, b, #a, #b)

#define KH_BOOL(fatal, want, cond)                                             \
	do {                                                                   \
		if (!(cond) != !(want))                                        \
			kh_fail_at(__FILE__, __LINE__, fatal,                  \
				   "expected %s to be %s", #cond,              \
				   (want) ? "true" : "false");                 \
	} while (0)

#define ASSERT_TRUE(c) KH_BOOL(1, 1, c)
#define ASSERT_FALSE(c) KH_BOOL(1, 0, c)
#define EXPECT_TRUE(c) KH_BOOL(0, 1, c)
#define EXPECT_FALSE(c) KH_BOOL(0, 0, c)

/* A system call (any expression returning < 0 with errno on failure) must succeed. */
#define KH_SYS_OK(fatal, expr, es)                                                 \
	({                                                                       \
		errno = 0;                                                       \
		long kh_r_ = (long)(expr);                                       \
		int kh_err_ = errno;                                             \
		if (kh_r_ < 0)                                                   \
			kh_fail_at(__FILE__, __LINE__, fatal,                    \
				   "%s: expected success, got %s (%d)", es,      \
				   kh_errno_name(kh_err_), kh_err_);             \
		kh_r_;                                                           \
	})

/* A system call must fail with errno `err`. */
#define KH_SYS_ERR(fatal, err, expr, es)                                             \
	do {                                                                        \
		int kh_want_ = (err);                                               \
		errno = 0;                                                          \
		long kh_r_ = (long)(expr);                                          \
		int kh_err_ = errno;                                                \
		if (kh_r_ >= 0)                                                     \
			kh_fail_at(__FILE__, __LINE__, fatal,                       \
				   "%s: expected %s (%d), got success (returned %ld)", \
				   es, kh_errno_name(kh_want_), kh_want_, kh_r_);     \
		else if (kh_err_ != kh_want_)                                       \
			kh_fail_at(__FILE__, __LINE__, fatal,                       \
				   "%s: expected %s (%d), got %s (%d)", es,          \
				   kh_errno_name(kh_want_), kh_want_,               \
				   kh_errno_name(kh_err_), kh_err_);                \
	} while (0)

#define ASSERT_SYS_OK(expr) KH_SYS_OK(1, expr, #expr)
#define EXPECT_SYS_OK(expr) KH_SYS_OK(0, expr, #expr)
#define ASSERT_ERRNO(err, expr) KH_SYS_ERR(1, err, expr, #expr)
#define EXPECT_ERRNO(err, expr) KH_SYS_ERR(0, err, expr, #expr)

#endif /* KH_TEST_H */
