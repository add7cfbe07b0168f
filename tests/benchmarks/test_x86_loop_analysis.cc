// The x86 batch-loop counter behind `ttap bench --static-cpu`: the walk over a hand-written
// disassembly (cold blocks out of line, a backward back edge), and the report on this binary.
#include "benchmarks/x86_loop_analysis.h"

#include <gtest/gtest.h>

namespace ttap::bench {
namespace {

// A loop of 6 instructions after its marker: a forward jump to a cold block (not taken), the cold
// block jumping back into the loop, and the back edge to the marker's block.
const char *kListing = R"(
0000000000001000 <ttap_cpu_avx512_f32>:
    1000:	push   %rbp
    1001:	xor    %eax,%eax
    1003:	nopl   0x7474(%rax)
    100a:	vmovups (%rdi,%rax,1),%zmm0
    1010:	vaddps %zmm0,%zmm1,%zmm1
    1016:	kortestw %k1,%k1
    101a:	jne    1040 <ttap_cpu_avx512_f32+0x40>
    101c:	add    $0x40,%rax
    1020:	cmp    %rsi,%rax
    1023:	jb     1003 <ttap_cpu_avx512_f32+0x3>
    1025:	pop    %rbp
    1026:	ret
    1040:	call   2000 <cold>
    1045:	vxorps %xmm2,%xmm2,%xmm2
    1049:	jmp    101c <ttap_cpu_avx512_f32+0x1c>
)";

TEST(X86LoopAnalysis, CountsOneIterationOfTheHotPath) {
  x86_loop loop = find_batch_loop(kListing);
  ASSERT_TRUE(loop.found) << loop.error;
  EXPECT_EQ(loop.instructions, 7);         // vmovups .. jb
  EXPECT_EQ(loop.vector_instructions, 3);  // vmovups, vaddps, kortestw
}

TEST(X86LoopAnalysis, SaysWhenThereIsNoMarker) {
  x86_loop loop = find_batch_loop("    1000:\tvaddps %zmm0,%zmm1,%zmm1\n    1006:\tret\n");
  EXPECT_FALSE(loop.found);
  EXPECT_NE(loop.error.find("marker"), std::string::npos) << loop.error;
}

TEST(X86LoopAnalysis, SaysWhenTheWalkDoesNotComeBack) {
  x86_loop loop = find_batch_loop(
      "    1000:\tnopl   0x7474(%rax)\n    1007:\tvaddps %zmm0,%zmm1,%zmm1\n    100d:\tret\n");
  EXPECT_FALSE(loop.found);
  EXPECT_NE(loop.error.find("did not come back"), std::string::npos) << loop.error;
}

}  // namespace
}  // namespace ttap::bench
