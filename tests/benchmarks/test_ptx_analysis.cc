// The static report's PTX reader on small hand-written PTX: the main loop is found (the one with
// the most 16-byte loads), the hot path skips blocks marked cold and loop exits, and `ptxas -v`
// lines are parsed.
#include <gtest/gtest.h>

#include "benchmarks/ptx_analysis.h"

namespace ttap::bench {
namespace {

// A loop with a 16-byte load, a cold branch (marked), a loop-exit branch, and the back edge.
const char *kPtx = R"(
.visible .entry probe(
	.param .u64 probe_param_0
)
{
	.reg .pred 	%p<4>;
	.reg .b32 	%r<20>;
	.reg .b64 	%rd<10>;
	mov.u32 	%r1, 0;
$L__BB0_1:
	ld.global.nc.v4.u32 	{%r2, %r3, %r4, %r5}, [%rd1];
	add.s32 	%r6, %r2, %r3;
	setp.eq.s32 	%p1, %r6, 0;
	@%p1 bra 	$L__BB0_3;
	add.s32 	%r7, %r6, %r4;
	bra.uni 	$L__BB0_4;
$L__BB0_3:
	// begin inline asm
	// ttap:cold
	// end inline asm
	mul.lo.s32 	%r7, %r6, %r5;
	mul.lo.s32 	%r7, %r7, %r5;
	mul.lo.s32 	%r7, %r7, %r5;
$L__BB0_4:
	add.s64 	%rd1, %rd1, 16;
	setp.lt.u32 	%p2, %r1, 100;
	@%p2 bra 	$L__BB0_1;
	ret;
}
)";

TEST(PtxAnalysis, CountsTheHotPathOfTheMainLoop) {
  loop_count c = count_main_loop(kPtx, "probe");
  ASSERT_TRUE(c.found) << c.error;
  EXPECT_EQ(c.vector_loads, 1);
  // load, add, setp, bra (to the cold block: not taken), add, bra.uni, add, setp, bra (back edge).
  EXPECT_EQ(c.instructions, 9);
}

// A round of two loads, then a one-load loop that finishes the chunk (shorter): the round is the
// main loop.
const char *kTwoLoops = R"(
.visible .entry rounds(
	.param .u64 rounds_param_0
)
{
$L__BB0_1:
	ld.global.nc.v4.u32 	{%r2, %r3, %r4, %r5}, [%rd1];
	ld.global.nc.v4.u32 	{%r6, %r7, %r8, %r9}, [%rd2];
	add.s32 	%r10, %r2, %r6;
	add.s32 	%r11, %r3, %r7;
	add.s32 	%r12, %r4, %r8;
	add.s64 	%rd1, %rd1, 32;
	setp.lt.u64 	%p1, %rd1, %rd3;
	@%p1 bra 	$L__BB0_1;
$L__BB0_2:
	ld.global.nc.v4.u32 	{%r2, %r3, %r4, %r5}, [%rd1];
	add.s64 	%rd1, %rd1, 16;
	setp.lt.u64 	%p2, %rd1, %rd4;
	@%p2 bra 	$L__BB0_2;
	ret;
}
)";

TEST(PtxAnalysis, TheMainLoopIsTheOneWithTheMostLoads) {
  loop_count c = count_main_loop(kTwoLoops, "rounds");
  ASSERT_TRUE(c.found) << c.error;
  EXPECT_EQ(c.vector_loads, 2);
  EXPECT_EQ(c.instructions, 8);
}

TEST(PtxAnalysis, ReportsAMissingEntryOrLoop) {
  EXPECT_FALSE(count_main_loop(kPtx, "nope").found);
  loop_count c = count_main_loop(".visible .entry flat(\n)\n{\n\tret;\n}\n", "flat");
  EXPECT_FALSE(c.found);
  EXPECT_NE(c.error.find("no loop"), std::string::npos);
}

TEST(PtxAnalysis, ParsesPtxasVerbose) {
  const char *text =
      "ptxas info    : Compiling entry function 'k1' for 'sm_80'\n"
      "ptxas info    : Function properties for k1\n"
      "    8 bytes stack frame, 4 bytes spill stores, 12 bytes spill loads\n"
      "ptxas info    : Used 96 registers, used 1 barriers, 8360 bytes smem, 408 bytes cmem[0]\n";
  auto r = parse_ptxas_verbose(text);
  ASSERT_TRUE(r.count("k1"));
  EXPECT_EQ(r["k1"].registers, 96);
  EXPECT_EQ(r["k1"].spill_store_bytes, 4);
  EXPECT_EQ(r["k1"].spill_load_bytes, 12);
  EXPECT_EQ(r["k1"].stack_bytes, 8);
  EXPECT_EQ(r["k1"].shared_bytes, 8360);
}

}  // namespace
}  // namespace ttap::bench
