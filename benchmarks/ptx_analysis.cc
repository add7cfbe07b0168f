// A small PTX reader: enough structure (entries, labels, branches, basic blocks) to locate a
// kernel's main loop and walk its hot path, plus the `ptxas -v` resource lines.
#include "benchmarks/ptx_analysis.h"

#include <algorithm>
#include <regex>
#include <sstream>

namespace ttap::bench {
namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

// One line of an entry body that matters for control flow.
struct ptx_line {
  enum kind_t { label, instruction, cold_marker } kind;
  std::string text;
};

struct basic_block {
  std::string label;  // empty for a block that starts after a branch
  std::vector<std::string> instructions;
  bool starts_cold = false;   // a cold marker before its first branch
  std::string branch_target;  // label of a branch ending the block, if any
  bool conditional = false;
  bool ends_flow = false;  // ret / exit / trap
};

// Lines of the body of `.entry name(` ... matching `}`.
std::vector<ptx_line> entry_body(const std::string &ptx, const std::string &entry, bool &found) {
  std::vector<ptx_line> out;
  found = false;
  std::istringstream in(ptx);
  std::string line;
  bool in_entry = false, in_body = false;
  int depth = 0;
  while (std::getline(in, line)) {
    std::string t = trim(line);
    if (!in_entry) {
      if (t.find(".entry " + entry + "(") != std::string::npos ||
          t.find(".entry " + entry + " (") != std::string::npos || t == ".entry " + entry) {
        in_entry = true;
        found = true;
      }
      continue;
    }
    if (!in_body) {
      if (t == "{") {
        in_body = true;
        depth = 1;
      }
      continue;
    }
    if (t == "{") {
      ++depth;
      continue;
    }
    if (t == "}") {
      if (--depth == 0) break;
      continue;
    }
    if (t.empty()) continue;
    if (t.rfind("//", 0) == 0) {
      if (t.find("ttap:cold") != std::string::npos) out.push_back({ptx_line::cold_marker, t});
      continue;
    }
    if (t.back() == ':') {
      out.push_back({ptx_line::label, t.substr(0, t.size() - 1)});
      continue;
    }
    if (t[0] == '.') continue;  // declarations (.reg, .shared, .loc ...)
    out.push_back({ptx_line::instruction, t});
  }
  return out;
}

bool is_branch(const std::string &ins, std::string &target, bool &conditional) {
  static const std::regex re(R"(^(@!?%\w+\s+)?bra(\.uni)?\s+([\w$]+);)");
  std::smatch m;
  if (!std::regex_search(ins, m, re)) return false;
  conditional = m[1].matched;
  target = m[3];
  return true;
}

std::vector<basic_block> split_blocks(const std::vector<ptx_line> &lines) {
  std::vector<basic_block> blocks(1);
  auto start_new = [&](const std::string &label) {
    if (!blocks.back().instructions.empty() || !blocks.back().label.empty() ||
        blocks.back().starts_cold) {
      blocks.emplace_back();
    }
    blocks.back().label = label;
  };
  for (const auto &l : lines) {
    switch (l.kind) {
      case ptx_line::label:
        start_new(l.text);
        break;
      case ptx_line::cold_marker:
        blocks.back().starts_cold = true;
        break;
      case ptx_line::instruction: {
        blocks.back().instructions.push_back(l.text);
        std::string target;
        bool conditional = false;
        bool ends = l.text.rfind("ret", 0) == 0 || l.text.rfind("exit", 0) == 0 ||
                    l.text.rfind("trap", 0) == 0;
        if (is_branch(l.text, target, conditional) || ends) {
          blocks.back().branch_target = target;
          blocks.back().conditional = conditional;
          blocks.back().ends_flow = ends;
          blocks.emplace_back();
        }
        break;
      }
    }
  }
  return blocks;
}

int vector_loads(const basic_block &b) {
  int n = 0;
  for (const auto &i : b.instructions) {
    if (i.find("ld.global") != std::string::npos && i.find(".v4.") != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

std::map<std::string, ptxas_resources> parse_ptxas_verbose(const std::string &text) {
  std::map<std::string, ptxas_resources> out;
  std::istringstream in(text);
  std::string line, current;
  static const std::regex entry_re(R"(Compiling entry function '([^']+)')");
  static const std::regex props_re(R"(Function properties for ([^\s]+))");
  static const std::regex stack_re(
      R"((\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads)");
  static const std::regex regs_re(R"(Used (\d+) registers)");
  static const std::regex smem_re(R"((\d+) bytes smem)");
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_search(line, m, entry_re)) {
      current = m[1];
      out[current];
    } else if (std::regex_search(line, m, props_re)) {
      current = m[1];
    } else if (!current.empty() && out.count(current) && std::regex_search(line, m, stack_re)) {
      out[current].stack_bytes = std::stoi(m[1]);
      out[current].spill_store_bytes = std::stoi(m[2]);
      out[current].spill_load_bytes = std::stoi(m[3]);
    } else if (!current.empty() && out.count(current) && std::regex_search(line, m, regs_re)) {
      out[current].registers = std::stoi(m[1]);
      if (std::regex_search(line, m, smem_re)) out[current].shared_bytes = std::stoi(m[1]);
    }
  }
  return out;
}

loop_count count_main_loop(const std::string &ptx, const std::string &entry) {
  loop_count result;
  bool found = false;
  std::vector<basic_block> blocks = split_blocks(entry_body(ptx, entry, found));
  if (!found) {
    result.error = "entry " + entry + " not in the PTX";
    return result;
  }
  std::map<std::string, size_t> block_of_label;
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (!blocks[i].label.empty()) block_of_label[blocks[i].label] = i;
  }
  // Loops: a branch in block j back to a block h <= j. The main loop is the one with the most
  // 16-byte loads (a kernel's full rounds, not the one-vector loop that finishes a chunk); among
  // equals, the smallest range (an inner loop, not one around it).
  size_t best_header = 0, best_latch = 0;
  int best_loads = 0;
  for (size_t j = 0; j < blocks.size(); ++j) {
    auto it = block_of_label.find(blocks[j].branch_target);
    if (blocks[j].branch_target.empty() || it == block_of_label.end() || it->second > j) continue;
    size_t h = it->second;
    int loads = 0;
    for (size_t k = h; k <= j; ++k) loads += vector_loads(blocks[k]);
    if (loads > best_loads ||
        (loads > 0 && loads == best_loads && j - h < best_latch - best_header)) {
      best_header = h;
      best_latch = j;
      best_loads = loads;
    }
  }
  const bool have = best_loads > 0;
  if (!have) {
    result.error = "no loop with a 16-byte global load in " + entry;
    return result;
  }
  auto in_loop = [&](size_t b) { return b >= best_header && b <= best_latch; };
  size_t b = best_header;
  for (int steps = 0; steps < 100000; ++steps) {
    const basic_block &blk = blocks[b];
    result.instructions += int(blk.instructions.size());
    result.vector_loads += vector_loads(blk);
    if (blk.ends_flow) break;
    size_t fall = b + 1;
    size_t taken = blk.branch_target.empty() ? fall : block_of_label.at(blk.branch_target);
    if (!blk.branch_target.empty() && taken == best_header) {
      // The back edge: one iteration done (for a conditional latch, continuing is the hot side).
      result.found = true;
      return result;
    }
    if (blk.branch_target.empty()) {
      b = fall;
    } else if (!blk.conditional) {
      b = taken;
    } else {
      auto hot = [&](size_t s) {
        return s < blocks.size() && in_loop(s) && !blocks[s].starts_cold;
      };
      if (hot(fall))
        b = fall;
      else if (hot(taken))
        b = taken;
      else {
        result.error = "hot path leaves the loop at block " + std::to_string(b);
        return result;
      }
    }
    if (!in_loop(b)) {
      result.error = "hot path left the loop";
      return result;
    }
  }
  result.error = "hot path did not return to the loop header";
  return result;
}

}  // namespace ttap::bench
