// The cpu executor's hot loop counted statically, the x86 analogue of the PTX count behind
// `ttap bench --static`: the per-dtype AVX-512 entries are disassembled with objdump and the
// instructions of one iteration of their batch loop are divided by the elements it handles.
#pragma once

#include <string>
#include <vector>

namespace ttap::bench {

struct x86_loop {
  bool found = false;
  int instructions = 0;  // on the hot path of one iteration, back edge included
  int vector_instructions = 0;  // of those, the ones on zmm/ymm/xmm registers or mask registers
  std::string error;
};

// In objdump's disassembly of one function (`objdump -d --no-show-raw-insn`), one iteration of
// the batch loop: the walk starts at the loop's marker (`nopl 0x7474(%rax)`, placed at the top of
// the loop in kernels/cpu/chunk_avx512.cc), follows unconditional jumps, takes backward
// conditional jumps and falls through forward ones (GCC puts the [[unlikely]] paths (rare batches,
// window moves, the level-2 drain) out of line behind forward jumps), and stops when it is back at
// the marker. The marker itself is not counted.
x86_loop find_batch_loop(const std::string &disassembly);

struct x86_loop_row {
  std::string dtype;
  std::string symbol;
  int instructions = 0;
  int vector_instructions = 0;
  double instr_per_elem = -1;  // instructions / elements per iteration (kElemsPerBatch)
  bool used_here = false;      // the executor takes this entry on this CPU
};

struct x86_loop_report {
  bool available = false;
  std::string error;   // why not: no objdump, no symbols (portable build), ...
  std::string binary;  // the file disassembled
  std::vector<x86_loop_row> rows;
};

// Disassembles the entries `ttap_cpu_avx512_<dtype>` in `binary` ("" = this executable); dtype
// "bf16_dot" is bf16's path on CPUs with AVX512_BF16.
x86_loop_report make_x86_loop_report(const std::string &binary);

// Elements one iteration of the batch loop handles (kernels/cpu/chunk_avx512.cc: 32 groups of 16).
inline constexpr int kElemsPerBatch = 512;

}  // namespace ttap::bench
