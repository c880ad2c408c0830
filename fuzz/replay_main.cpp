// A libFuzzer-compatible driver for builds without clang: runs every file of the given seed
// directories (or files) through LLVMFuzzerTestOneInput, then --runs=N inputs made by mutating
// them (bit flips, byte changes, insertions, deletions, duplications, splices and tokens that
// tend to break parsers), from a fixed --seed so a failure repeats. Bounded by --max_total_time
// (seconds). A failing input is written to fuzz-crash-<target>-<n> in the working directory
// before the target runs it, so an abort leaves it behind to reproduce with.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using Bytes = std::vector<uint8_t>;

const char* const kTokens[] = {
    "\0",
    "\xff",
    "\xc3\x28",
    "\xed\xa0\x80",
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "\n",
    "- ",
    "null",
    "true",
    "-1",
    "0",
    "1e309",
    "-0",
    "NaN",
    "18446744073709551616",
    "9223372036854775807",
    "${",
    "}",
    "*",
    "&a",
    "!!str",
    "---",
    "%",
    "%zz",
    "\\u0000",
    "\\ud800",
    "[0]",
    "[-1]",
    "..",
    "=",
    "systems[",
    "workload.",
    "1KiB",
    "10s",
    "5k/s",
    "find-max",
};

Bytes read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void mutate(Bytes& input, const std::vector<Bytes>& seeds, std::mt19937_64& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  const int steps = 1 + static_cast<int>(rng() % 4);
  for (int s = 0; s < steps; ++s) {
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!input.empty()) input[pick(input.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // set a byte
        if (!input.empty()) input[pick(input.size())] = static_cast<uint8_t>(rng());
        break;
      case 2: {  // insert random bytes
        const size_t at = pick(input.size() + 1), n = 1 + pick(8);
        for (size_t i = 0; i < n; ++i)
          input.insert(input.begin() + at, static_cast<uint8_t>(rng()));
        break;
      }
      case 3: {  // delete a range
        if (input.empty()) break;
        const size_t at = pick(input.size()), n = 1 + pick(std::min<size_t>(16, input.size() - at));
        input.erase(input.begin() + at, input.begin() + at + std::min(n, input.size() - at));
        break;
      }
      case 4: {  // duplicate a range
        if (input.empty() || input.size() > 1 << 16) break;
        const size_t at = pick(input.size()), n = 1 + pick(std::min<size_t>(64, input.size() - at));
        Bytes copy(input.begin() + at, input.begin() + std::min(input.size(), at + n));
        input.insert(input.begin() + pick(input.size() + 1), copy.begin(), copy.end());
        break;
      }
      case 5: {  // splice with another seed
        const Bytes& other = seeds[pick(seeds.size())];
        if (other.empty()) break;
        const size_t from = pick(other.size());
        const size_t cut = pick(input.size() + 1);
        input.resize(cut);
        input.insert(input.end(), other.begin() + from, other.end());
        break;
      }
      case 6: {  // a token
        const char* token = kTokens[pick(std::size(kTokens))];
        const size_t length = token[0] == '\0' ? 1 : std::strlen(token);
        input.insert(input.begin() + pick(input.size() + 1), token, token + length);
        break;
      }
      default:  // truncate
        if (!input.empty()) input.resize(pick(input.size()));
        break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  unsigned long long seed = 1;
  double max_seconds = 0;
  std::vector<Bytes> seeds;
  std::string target = std::filesystem::path(argv[0]).filename().string();
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("-runs=", 0) == 0 || arg.rfind("--runs=", 0) == 0) {
      runs = std::stol(arg.substr(arg.find('=') + 1));
    } else if (arg.rfind("-seed=", 0) == 0 || arg.rfind("--seed=", 0) == 0) {
      seed = std::stoull(arg.substr(arg.find('=') + 1));
    } else if (arg.rfind("-max_total_time=", 0) == 0 || arg.rfind("--max_total_time=", 0) == 0) {
      max_seconds = std::stod(arg.substr(arg.find('=') + 1));
    } else if (!arg.empty() && arg[0] == '-') {
      continue;  // other libFuzzer flags mean nothing here
    } else if (std::filesystem::is_directory(arg)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::recursive_directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());  // the same order, so --seed repeats a failure
      for (const auto& file : files) seeds.push_back(read_file(file));
    } else if (std::filesystem::is_regular_file(arg)) {
      seeds.push_back(read_file(arg));
    } else {
      std::fprintf(stderr, "%s: no such file or directory: %s\n", target.c_str(), arg.c_str());
      return 2;
    }
  }
  if (seeds.empty()) seeds.push_back({});
  const auto started = std::chrono::steady_clock::now();
  const std::string crash_file = "fuzz-crash-" + target;
  auto run = [&](const Bytes& input) {
    {
      std::ofstream out(crash_file, std::ios::binary | std::ios::trunc);
      out.write(reinterpret_cast<const char*>(input.data()),
                static_cast<std::streamsize>(input.size()));
    }
    LLVMFuzzerTestOneInput(input.data(), input.size());
  };
  for (const auto& input : seeds) run(input);
  std::mt19937_64 rng(seed);
  long done = 0;
  for (; done < runs; ++done) {
    if (max_seconds > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >
            max_seconds) {
      break;
    }
    Bytes input = seeds[static_cast<size_t>(rng() % seeds.size())];
    mutate(input, seeds, rng);
    if (input.size() > (1u << 20)) input.resize(1u << 20);
    run(input);
  }
  std::filesystem::remove(crash_file);
  std::printf("%s: %zu seed inputs and %ld mutations (seed %llu) ran without a failure\n",
              target.c_str(), seeds.size(), done, seed);
  return 0;
}
