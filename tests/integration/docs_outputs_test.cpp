// The outputs README.md and docs/*.md show stay what dec prints. Every fenced block that starts
// with "$ build/dec ..." is run (from the source tree, with a data dir of its own) and compared:
//   - exactly, line by line, for commands that measure nothing (help, validate, plan, ...);
//   - for `run`, by shape: the documented lines must appear in order ("..." skips any number
//     of lines), table rows compared by their label, digits masked (figures vary run to run).
// Experiment ids and the data dir are placeholders everywhere. Lines naming a host or network
// are shown as root with cgroups; such a block is compared only where dec can create hosts.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "infra/linux_host.h"
#include "support/data_dir_test.h"
#include "support/subprocess.h"

namespace dec {
namespace {

namespace fs = std::filesystem;

struct ShownOutput {
  std::string file;  // relative to the source dir
  size_t line = 0;   // of the command
  std::string command;
  std::vector<std::string> lines;
};

std::vector<ShownOutput> shown_outputs() {
  std::vector<std::string> files = {"README.md"};
  for (const auto& entry : fs::directory_iterator(DEC_SOURCE_DIR "/docs")) {
    if (entry.path().extension() == ".md")
      files.push_back("docs/" + entry.path().filename().string());
  }
  std::vector<ShownOutput> out;
  for (const auto& file : files) {
    std::ifstream in(std::string(DEC_SOURCE_DIR) + "/" + file);
    std::string line;
    size_t number = 0;
    bool in_block = false;
    bool block_start = false;
    ShownOutput* current = nullptr;
    size_t indent = 0;  // of the opening fence: a block in a list item is indented
    while (std::getline(in, line)) {
      ++number;
      const size_t leading = std::min(line.find_first_not_of(' '), line.size());
      if (line.compare(leading, 3, "```") == 0) {
        in_block = !in_block;
        block_start = in_block;
        indent = leading;
        current = nullptr;
        continue;
      }
      line.erase(0, std::min(leading, indent));
      if (block_start && line.starts_with("$ build/dec ")) {
        out.push_back({file, number, line.substr(2), {}});
        current = &out.back();
      } else if (current != nullptr) {
        current->lines.push_back(line);
      }
      block_start = false;
    }
  }
  return out;
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Ids and data dirs as placeholders, trailing blanks dropped.
std::string placeholders(std::string line) {
  static const std::regex id(R"(\d{8}-\d{6}-[0-9a-f]{4})");
  static const std::regex data_dir(R"(data in \S+)");
  line = std::regex_replace(line, id, "<id>");
  line = std::regex_replace(line, data_dir, "data in <data dir>");
  while (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

// A line of a run's output as far as it is the same every run: a table row by its label, other
// lines with digits masked and blanks collapsed.
std::string run_shape(const std::string& raw) {
  std::string line = placeholders(raw);
  const size_t gap = line.find("  ");
  if (!line.empty() && line[0] != ' ' && gap != std::string::npos && gap > 0) {
    return "row: " + line.substr(0, gap);
  }
  static const std::regex digits(R"(\d+(\.\d+)?)");
  static const std::regex blanks(R"(\s+)");
  line = std::regex_replace(line, digits, "#");
  return std::regex_replace(line, blanks, " ");
}

// Whether the results table has this row (or note) at all: its label, or the note's words up
// to the first figure (after the system it is about), are in the table's source.
bool printed_when_it_applies(const std::string& raw) {
  static const std::string source = [] {
    std::ifstream in(DEC_SOURCE_DIR "/src/report/results.cpp");
    return std::string((std::istreambuf_iterator<char>(in)), {});
  }();
  std::string line = placeholders(raw);
  line.erase(0, line.find_first_not_of(' '));
  // A note about one system ("  redis: the offered rate ...") is the words after its name.
  if (const size_t colon = line.find(": "); colon != std::string::npos && line.find(' ') > colon) {
    line.erase(0, colon + 2);
  }
  const size_t gap = line.find("  ");
  std::string key = gap != std::string::npos ? line.substr(0, gap) : line;
  key = key.substr(0, std::min({key.find_first_of("0123456789"), key.size(), size_t{24}}));
  while (!key.empty() && key.back() == ' ') key.pop_back();
  return key.size() >= 8 && source.find(key) != std::string::npos;
}

bool names_host(const std::string& line) {
  return line.find("host.") != std::string::npos || line.find("network.") != std::string::npos;
}

class DocsOutputs : public testing::DataDirTest {
 protected:
  DocsOutputs() : DataDirTest("dec-docs") {}

  // The documented command, run against this test's data dir; its output as the docs show it.
  std::string run_shown(const std::string& command) {
    std::vector<std::string> argv;
    const std::vector<std::string> words = split_words(command);  // "build/dec" first
    for (size_t i = 1; i < words.size(); ++i) {
      const fs::path in_tree = fs::path(DEC_SOURCE_DIR) / words[i];
      argv.push_back(!words[i].starts_with("-") && fs::exists(in_tree) ? in_tree.string()
                                                                       : words[i]);
    }
    const std::string log = (dir_ / "out.log").string();
    testing::run(dec(argv), log, std::chrono::seconds(300));
    std::ifstream in(log);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    // Paths as typed in the docs: relative to the source tree.
    const std::string source = std::string(DEC_SOURCE_DIR) + "/";
    for (size_t at; (at = text.find(source)) != std::string::npos;) text.erase(at, source.size());
    return text;
  }
};

TEST_F(DocsOutputs, EveryShownOutputIsWhatDecPrints) {
  const bool hosts = infra::linux_host::is_root() &&
                     infra::linux_host::cgroup_version() != infra::linux_host::CgroupVersion::kNone;
  const auto outputs = shown_outputs();
  ASSERT_GE(outputs.size(), 3u) << "README.md shows run, validate and plan";
  for (const ShownOutput& shown : outputs) {
    SCOPED_TRACE(shown.file + ":" + std::to_string(shown.line) + ": " + shown.command);
    fs::remove_all(data_dir_);
    const std::vector<std::string> actual = split_lines(run_shown(shown.command));
    const bool is_run = split_words(shown.command).at(1) == "run";
    if (!is_run) {
      if (!hosts && std::any_of(shown.lines.begin(), shown.lines.end(), names_host)) {
        std::cout << shown.file << ":" << shown.line << ": not compared: the output shown is as "
                  << "root with cgroups, where dec creates hosts\n";
        continue;
      }
      std::vector<std::string> expected;
      std::vector<std::string> got;
      for (const auto& line : shown.lines) expected.push_back(placeholders(line));
      for (const auto& line : actual) got.push_back(placeholders(line));
      while (!got.empty() && got.back().empty()) got.pop_back();
      EXPECT_EQ(got, expected);
      continue;
    }
    // In order, other lines between (progress varies with the machine, "..." marks a cut). A
    // row or note the table prints only when it applies may be missing from this run's output,
    // as long as the tool still has it.
    size_t next = 0;
    for (const auto& line : shown.lines) {
      if (line == "...") continue;
      const std::string want = run_shape(line);
      size_t at = next;
      while (at < actual.size() && run_shape(actual[at]) != want) ++at;
      if (at < actual.size()) {
        next = at + 1;
        continue;
      }
      if (printed_when_it_applies(line)) continue;
      std::string context;
      for (size_t i = next; i < std::min(actual.size(), next + 5); ++i) {
        context += "\n  " + actual[i];
      }
      ADD_FAILURE() << "shown line not printed (in this order): \"" << line
                    << "\"\nwhat dec printed next:" << context;
      break;
    }
  }
}

}  // namespace
}  // namespace dec
