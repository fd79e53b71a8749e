/* fix_gate.c: which kernel releases FAIL and which SKIP when a fix's behaviour is missing (MISSING_FIX); check.sh compares with expected-gates.ktap. */
#include <stdlib.h>

#include "../net_common.h"

/* Built with KH_FRAMEWORK_CHECK: net_common takes the release and ABI from these variables, not the kernel. */
FIXTURE(gate) {};
FIXTURE_VARIANT(gate) { const char *release, *abi; };
FIXTURE_VARIANT_ADD(gate, debian_6_12_118) { "6.12.118+deb12-cloud-amd64", "6" };
FIXTURE_VARIANT_ADD(gate, stable_6_12_112) { "6.12.112", "6" };
FIXTURE_VARIANT_ADD(gate, stable_6_12_111) { "6.12.111", "6" };
FIXTURE_VARIANT_ADD(gate, stable_6_12_23) { "6.12.23", "6" };
FIXTURE_VARIANT_ADD(gate, other_series_6_18_abi_7) { "6.18.44-fc", "7" };
SETUP(gate)
{
	setenv("KH_CHECK_KERNEL_RELEASE", variant->release, 1);
	setenv("KH_CHECK_LANDLOCK_ABI", variant->abi, 1);
}
TEARDOWN(gate) {}

TEST_F(gate, fastopen_unchecked)
{
	MISSING_FIX(&ll_fix_tcp_fastopen, "sandboxed sendto(MSG_FASTOPEN) connected unchecked");
}

TEST_F(gate, no_errata_query)
{
	MISSING_FIX(&ll_fix_errata_query, "no errata query (EINVAL)");
}
