// Static instruction count of the cpu executor's batch loop per dtype: objdump's disassembly of the
// AVX-512 entries, the loop found by its back edge, its instructions counted.
#include "benchmarks/x86_loop_analysis.h"

#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <regex>
#include <sstream>

#include "kernels/cpu/chunk.h"

namespace ttap::bench {
namespace {

struct instruction {
  uint64_t address;
  std::string mnemonic;
  std::string operands;
  bool is_jump = false;
  uint64_t target = 0;
};

std::vector<instruction> parse(const std::string &text) {
  // "    3688:\tvmovups 0x3c40(%rbx),%zmm0" or "  4a3f:\tjne    3688 <sym+0x120>"
  static const std::regex line_re(R"(^\s*([0-9a-f]+):\s+([a-z][a-z0-9_.]*)\s*(.*)$)");
  static const std::regex target_re(R"(^([0-9a-f]+)\s+<)");
  std::vector<instruction> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (!std::regex_match(line, m, line_re)) continue;
    instruction ins;
    ins.address = std::stoull(m[1].str(), nullptr, 16);
    ins.mnemonic = m[2].str();
    ins.operands = m[3].str();
    std::smatch t;
    if (ins.mnemonic[0] == 'j' && std::regex_search(ins.operands, t, target_re)) {
      ins.is_jump = true;
      ins.target = std::stoull(t[1].str(), nullptr, 16);
    }
    out.push_back(ins);
  }
  return out;
}

bool is_vector(const instruction &ins) {
  return ins.operands.find("%zmm") != std::string::npos ||
         ins.operands.find("%ymm") != std::string::npos ||
         ins.operands.find("%xmm") != std::string::npos ||
         ins.operands.find("%k") != std::string::npos || ins.mnemonic[0] == 'k';
}

std::string run_command(const std::string &cmd, int *status) {
  std::unique_ptr<FILE, int (*)(FILE *)> pipe(popen(cmd.c_str(), "r"), pclose);
  std::string out;
  if (!pipe) {
    *status = -1;
    return out;
  }
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe.get())) > 0) out.append(buf.data(), n);
  *status = pclose(pipe.release());
  return out;
}

std::string self_executable() {
  std::array<char, 4096> path{};
  ssize_t n = readlink("/proc/self/exe", path.data(), path.size() - 1);
  return n > 0 ? std::string(path.data(), size_t(n)) : std::string();
}

}  // namespace

x86_loop find_batch_loop(const std::string &disassembly) {
  x86_loop loop;
  const std::vector<instruction> code = parse(disassembly);
  size_t marker = code.size();
  for (size_t k = 0; k < code.size(); ++k) {
    if (code[k].mnemonic == "nopl" && code[k].operands.rfind("0x7474(%rax)", 0) == 0) marker = k;
  }
  if (marker == code.size()) {
    loop.error = "no loop marker (nopl 0x7474(%rax)) in the disassembly";
    return loop;
  }
  auto index_of = [&](uint64_t address) -> size_t {
    for (size_t k = 0; k < code.size(); ++k)
      if (code[k].address == address) return k;
    return code.size();
  };
  size_t k = marker + 1;
  // An iteration is a few hundred instructions; a walk this long went astray.
  for (int steps = 0; steps < 20000 && k < code.size(); ++steps) {
    if (k == marker) {
      loop.found = true;
      return loop;
    }
    const instruction &ins = code[k];
    ++loop.instructions;
    if (is_vector(ins)) ++loop.vector_instructions;
    if (ins.mnemonic.rfind("ret", 0) == 0) break;
    if (ins.is_jump && (ins.mnemonic == "jmp" || ins.target <= ins.address)) {
      k = index_of(ins.target);
    } else {
      ++k;
    }
  }
  loop = {};
  loop.error = "the walk from the loop marker did not come back to it";
  return loop;
}

x86_loop_report make_x86_loop_report(const std::string &binary) {
  x86_loop_report report;
  report.binary = binary.empty() ? self_executable() : binary;
  int status = 0;
  std::string symbols =
      run_command("nm --defined-only '" + report.binary + "' 2>/dev/null", &status);
  if (status != 0) {
    report.error = "cannot list the symbols of " + report.binary + " (is binutils' nm installed?)";
    return report;
  }
  // bf16_dot: bf16 on CPUs with AVX512_BF16 (the entry the executor takes there instead of bf16).
  for (const char *dtype : {"f32", "bf16", "bf16_dot", "f16", "f8e4m3", "f8e5m2"}) {
    // The entry's name, possibly with a suffix the linker added (LTO: name.lto_priv.0).
    const std::string name = std::string("ttap_cpu_avx512_") + dtype;
    std::smatch m;
    std::regex entry_re("\\s(" + name + "(\\.[A-Za-z0-9_.]+)?)\\n");
    if (!std::regex_search(symbols, m, entry_re)) {
      if (std::string(dtype) == "bf16_dot") continue;  // a compiler without AVX512_BF16
      report.error = "no symbol " + name + " in " + report.binary +
                     " (built without AVX-512 support in the compiler?)";
      return report;
    }
    std::string listing =
        run_command("objdump -d --no-show-raw-insn --disassemble='" + m[1].str() + "' '" +
                        report.binary + "' 2>/dev/null",
                    &status);
    if (status != 0) {
      report.error = "objdump failed on " + report.binary + " (is binutils installed?)";
      return report;
    }
    x86_loop loop = find_batch_loop(listing);
    if (!loop.found) {
      report.error = name + ": " + loop.error;
      return report;
    }
    const bool dot = std::string(dtype) == "bf16_dot";
    const bool used_here = cpu::avx512_supported() &&
                           (dot ? cpu::bf16_dot_supported()
                                : std::string(dtype) != "bf16" || !cpu::bf16_dot_supported());
    report.rows.push_back({dtype, m[1].str(), loop.instructions, loop.vector_instructions,
                           double(loop.instructions) / kElemsPerBatch, used_here});
  }
  report.available = true;
  return report;
}

}  // namespace ttap::bench
