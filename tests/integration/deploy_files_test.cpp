// deploy/ read as its tools would read it, where the tools are not installed here (no container
// engine, no terraform): every path and flag deploy/Containerfile names exists, its ENTRYPOINT
// starts this dec, its packages cover what dec links and runs; the Terraform module is
// well-formed, refers only to what it declares, admits only the given networks and documents
// every variable and output; deploy/cd-replace's usage.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "infra/env.h"
#include "support/subprocess.h"

namespace dec {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

const fs::path kSource = DEC_SOURCE_DIR;

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string word; in >> word;) out.push_back(word);
  return out;
}

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

// A scratch directory removed at the end of each test.
class ScratchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("dec-deploy-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs argv; returns (exit status, output).
  std::pair<int, std::string> run(const std::vector<std::string>& argv,
                                  const std::map<std::string, std::string>& env = {}) {
    const std::string output = (dir_ / ("run-" + std::to_string(++runs_) + ".log")).string();
    const int status = testing::run(argv, output, 60s, env);
    return {status, read(output)};
  }

  fs::path dir_;
  int runs_ = 0;
};

// ---- deploy/Containerfile -----------------------------------------------------------------

struct Instruction {
  std::string keyword;  // upper case
  std::string args;
  size_t stage = 0;  // index into Containerfile::stages
};

struct Stage {
  std::string base;
  std::string name;
  std::string workdir = "/";
  std::set<std::string> packages;  // what its RUN lines apt-get install
};

struct Containerfile {
  std::vector<Stage> stages;
  std::vector<Instruction> instructions;
  std::vector<const Instruction*> all(const std::string& keyword) const {
    std::vector<const Instruction*> out;
    for (const auto& i : instructions) {
      if (i.keyword == keyword) out.push_back(&i);
    }
    return out;
  }
};

// Dockerfile syntax as far as these checks need it: comment lines (also between continued
// lines) are dropped, a trailing backslash continues an instruction.
Containerfile parse_containerfile(const std::string& text) {
  Containerfile file;
  std::istringstream in(text);
  std::string line, pending;
  auto finish = [&](const std::string& instruction) {
    const std::string body = trim(instruction);
    if (body.empty()) return;
    const auto space = body.find_first_of(" \t");
    Instruction i;
    i.keyword = body.substr(0, space);
    std::transform(i.keyword.begin(), i.keyword.end(), i.keyword.begin(), ::toupper);
    i.args = space == std::string::npos ? "" : trim(body.substr(space));
    if (i.keyword == "FROM") {
      const auto w = words(i.args);
      Stage stage;
      stage.base = w.empty() ? "" : w[0];
      if (w.size() == 3 && (w[1] == "AS" || w[1] == "as")) stage.name = w[2];
      file.stages.push_back(stage);
    }
    i.stage = file.stages.empty() ? 0 : file.stages.size() - 1;
    if (i.keyword == "WORKDIR" && !file.stages.empty()) file.stages.back().workdir = i.args;
    if (i.keyword == "RUN" && !file.stages.empty()) {
      const auto w = words(i.args);
      for (size_t k = 0; k + 1 < w.size(); ++k) {
        if (w[k] != "apt-get" || w[k + 1] != "install") continue;
        for (size_t p = k + 2; p < w.size() && w[p] != "&&" && w[p] != ";"; ++p) {
          if (w[p][0] != '-' && w[p] != "\\") file.stages.back().packages.insert(w[p]);
        }
      }
    }
    file.instructions.push_back(i);
  };
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (!t.empty() && t[0] == '#') continue;
    if (!t.empty() && t.back() == '\\') {
      pending += t.substr(0, t.size() - 1) + " ";
      continue;
    }
    finish(pending + t);
    pending.clear();
  }
  finish(pending);
  return file;
}

// Whether the repository's .gitignore marks `relative` as a generated output (build/, web/dist,
// tools/kafka/lib, node_modules ...): something scripts/setup or scripts/build makes.
bool generated_output(const std::string& relative) {
  std::istringstream in(read(kSource / ".gitignore"));
  for (std::string pattern; std::getline(in, pattern);) {
    pattern = trim(pattern);
    if (pattern.empty() || pattern[0] == '#' || pattern.find('*') != std::string::npos) continue;
    if (pattern.back() == '/') pattern.pop_back();
    if (pattern[0] == '/') {
      pattern = pattern.substr(1);
      if (relative == pattern || relative.rfind(pattern + "/", 0) == 0) return true;
    } else if (relative == pattern || relative.rfind(pattern + "/", 0) == 0 ||
               relative.find("/" + pattern + "/") != std::string::npos ||
               (relative.size() > pattern.size() &&
                relative.compare(relative.size() - pattern.size() - 1, std::string::npos,
                                 "/" + pattern) == 0)) {
      return true;
    }
  }
  return false;
}

class ContainerfileTest : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    file_ = parse_containerfile(read(kSource / "deploy" / "Containerfile"));
    ASSERT_GE(file_.stages.size(), 2u) << "a multi-stage build";
    for (const auto* entry : file_.all("ENTRYPOINT")) {
      entrypoint_ = json::parse(entry->args, nullptr, false);
    }
    ASSERT_TRUE(entrypoint_.is_array()) << "ENTRYPOINT in exec form (a JSON array), no shell";
    ASSERT_GE(entrypoint_.size(), 2u);
  }

  std::vector<std::string> entrypoint() const {
    return entrypoint_.get<std::vector<std::string>>();
  }
  // The value after `flag` in the ENTRYPOINT, "" when absent.
  std::string flag(const std::string& name) const {
    const auto argv = entrypoint();
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
      if (argv[i] == name) return argv[i + 1];
    }
    return "";
  }
  const Stage& runtime() const { return file_.stages.back(); }
  // Destinations of the runtime stage's COPY instructions.
  std::vector<std::string> runtime_copies() const {
    std::vector<std::string> out;
    for (const auto* copy : file_.all("COPY")) {
      if (copy->stage == file_.stages.size() - 1) out.push_back(words(copy->args).back());
    }
    return out;
  }
  bool copied_to(const std::string& path) const {
    for (const auto& destination : runtime_copies()) {
      if (path == destination || path.rfind(destination + "/", 0) == 0 ||
          destination.rfind(path + "/", 0) == 0) {
        return true;
      }
    }
    return false;
  }

  Containerfile file_;
  json entrypoint_;
};

TEST_F(ContainerfileTest, EveryStageIsDebian12AndEveryCopiedPathExists) {
  for (const auto& stage : file_.stages) {
    EXPECT_TRUE(stage.base.rfind("debian:12", 0) == 0 ||
                stage.base.find("-bookworm") != std::string::npos)
        << stage.base << ": not a Debian 12 image";
  }
  EXPECT_EQ(runtime().base.rfind("debian:12", 0), 0u) << runtime().base;

  std::map<std::string, const Stage*> named;
  size_t from_context = 0, from_stages = 0;
  for (const auto* copy : file_.all("COPY")) {
    auto w = words(copy->args);
    ASSERT_GE(w.size(), 2u) << copy->args;
    std::string from;
    if (w[0].rfind("--from=", 0) == 0) {
      from = w[0].substr(7);
      w.erase(w.begin());
    }
    const std::vector<std::string> sources(w.begin(), w.end() - 1);
    for (const auto& source : sources) {
      if (from.empty()) {
        ++from_context;
        EXPECT_TRUE(fs::exists(kSource / source))
            << "COPY " << copy->args << ": " << source << " is not in the source tree";
        continue;
      }
      ++from_stages;
      const Stage* stage = nullptr;
      for (const auto& s : file_.stages) {
        if (s.name == from) stage = &s;
      }
      ASSERT_NE(stage, nullptr) << "COPY --from=" << from << ": no stage of that name";
      const std::string prefix = stage->workdir + "/";
      ASSERT_EQ(source.rfind(prefix, 0), 0u)
          << "COPY --from=" << from << " " << source << ": not under the stage's WORKDIR";
      const std::string relative = source.substr(prefix.size());
      const bool binary = relative == "build/dec" && fs::exists(DEC_BINARY);
      EXPECT_TRUE(binary || fs::exists(kSource / relative) || generated_output(relative))
          << source << ": neither in the source tree nor an output of scripts/setup or "
          << "scripts/build (.gitignore)";
    }
  }
  EXPECT_GT(from_context, 0u);
  EXPECT_GT(from_stages, 0u);

  // Repository scripts and files the build stages run or read.
  const std::regex repo_path(R"((?:scripts|tools|web|deploy)/[A-Za-z0-9_.\-/]*[A-Za-z0-9_])");
  for (const auto* step : file_.all("RUN")) {
    for (std::sregex_iterator m(step->args.begin(), step->args.end(), repo_path), end; m != end;
         ++m) {
      const std::string path = m->str();
      EXPECT_TRUE(fs::exists(kSource / path) || generated_output(path))
          << "RUN names " << path << ", which is not in the source tree";
    }
  }
}

TEST_F(ContainerfileTest, PackagesCoverTheBuildAndWhatDecLinksAndRuns) {
  // The build stage installs every build dependency scripts/setup installs.
  const std::string setup = read(kSource / "scripts" / "setup");
  const auto open = setup.find("PACKAGES=(");
  ASSERT_NE(open, std::string::npos);
  const auto close = setup.find(')', open);
  std::set<std::string> setup_packages;
  for (const auto& w : words(setup.substr(open + 10, close - open - 10))) setup_packages.insert(w);
  std::set<std::string> build_packages;
  for (size_t s = 0; s + 1 < file_.stages.size(); ++s) {
    build_packages.insert(file_.stages[s].packages.begin(), file_.stages[s].packages.end());
  }
  for (const auto& package : setup_packages) {
    const bool build_dependency =
        (package.size() > 4 && package.compare(package.size() - 4, 4, "-dev") == 0) ||
        package == "build-essential" || package == "cmake" || package == "ninja-build" ||
        package == "pkg-config";
    if (build_dependency) {
      EXPECT_TRUE(build_packages.count(package)) << package << " (scripts/setup) is not installed "
                                                 << "by a build stage";
    }
  }
  // The runtime stage has the brokers dec starts, Java for Kafka and Node.js for kinesalite.
  for (const std::string package :
       {"redis-server", "nats-server", "rabbitmq-server", "mosquitto"}) {
    EXPECT_TRUE(setup_packages.count(package)) << package;
    EXPECT_TRUE(runtime().packages.count(package)) << package << " missing from the runtime stage";
  }
  EXPECT_TRUE(runtime().packages.count("openjdk-17-jre-headless"));
  EXPECT_TRUE(runtime().packages.count("nodejs"));
  EXPECT_TRUE(runtime().packages.count("curl")) << "HEALTHCHECK runs curl";

  // Every shared library dec links comes from a package the runtime stage installs (libc6 too:
  // naming it costs nothing and keeps the check simple).
  if (!fs::exists("/usr/bin/dpkg-query") || !fs::exists("/usr/bin/objdump")) {
    GTEST_SKIP() << "needs dpkg-query and objdump (Debian, binutils)";
  }
  auto [objdump_status, headers] = run({"objdump", "-p", DEC_BINARY});
  ASSERT_EQ(objdump_status, 0) << headers;
  auto [ldd_status, ldd] = run({"ldd", DEC_BINARY});
  ASSERT_EQ(ldd_status, 0) << ldd;
  std::map<std::string, std::string> resolved;  // soname -> path
  std::istringstream ldd_lines(ldd);
  for (std::string line; std::getline(ldd_lines, line);) {
    const auto w = words(line);
    if (w.size() >= 3 && w[1] == "=>") resolved[w[0]] = w[2];
  }
  size_t checked = 0;
  std::istringstream header_lines(headers);
  for (std::string line; std::getline(header_lines, line);) {
    const auto w = words(line);
    if (w.size() != 2 || w[0] != "NEEDED") continue;
    const std::string soname = w[1];
    if (soname.rfind("libasan", 0) == 0 || soname.rfind("libubsan", 0) == 0 ||
        soname.rfind("libtsan", 0) == 0) {
      continue;  // a sanitizer build's runtime
    }
    ASSERT_TRUE(resolved.count(soname)) << soname << " not found by ldd:\n" << ldd;
    std::string path = resolved[soname];
    auto [status, owner] = run({"dpkg-query", "-S", path});
    if (status != 0 && path.rfind("/usr/", 0) == 0) {  // merged /usr: recorded as /lib/...
      std::tie(status, owner) = run({"dpkg-query", "-S", path.substr(4)});
    } else if (status != 0) {
      std::tie(status, owner) = run({"dpkg-query", "-S", "/usr" + path});
    }
    ASSERT_EQ(status, 0) << soname << " (" << path << ") belongs to no package: " << owner;
    const std::string package = owner.substr(0, owner.find_first_of(":,"));
    EXPECT_TRUE(runtime().packages.count(package)) << "dec links " << soname << " from " << package
                                                   << ", which the runtime stage does not install";
    ++checked;
  }
  EXPECT_GT(checked, 5u) << headers;
}

TEST_F(ContainerfileTest, EntrypointStartsDecServeWithFlagsAndPathsThatExist) {
  const auto argv = entrypoint();
  EXPECT_EQ(argv[0], "dec");
  EXPECT_EQ(argv[1], "serve");
  EXPECT_TRUE(copied_to("/usr/local/bin/dec")) << "dec is on the runtime image's PATH";

  // Every flag is one `dec serve` takes: with --help after them, dec parses them all first and
  // exits 2 on any it does not know or that lacks its value.
  std::vector<std::string> with_help = {DEC_BINARY};
  with_help.insert(with_help.end(), argv.begin() + 1, argv.end());
  with_help.push_back("--help");
  auto [help_status, help] = run(with_help);
  ASSERT_EQ(help_status, 0) << help;
  for (const auto& word : argv) {
    if (word.rfind("--", 0) == 0) {
      EXPECT_NE(help.find(word), std::string::npos) << word;
    }
  }

  // Paths: the data dir is the volume, the web app, examples and tools are copied there, the
  // port is the exposed one and the one the health check asks.
  std::set<std::string> volumes;
  for (const auto* volume : file_.all("VOLUME")) {
    for (const auto& v : json::parse(volume->args)) volumes.insert(v.get<std::string>());
  }
  const std::string data_dir = flag("--data-dir");
  EXPECT_TRUE(volumes.count(data_dir)) << "--data-dir " << data_dir << " is not a VOLUME";
  EXPECT_TRUE(copied_to(flag("--web"))) << flag("--web");
  EXPECT_TRUE(copied_to(flag("--examples"))) << flag("--examples");
  std::string tools_dir;
  for (const auto* env : file_.all("ENV")) {
    if (env->args.rfind("DEC_TOOLS_DIR=", 0) == 0) tools_dir = env->args.substr(14);
  }
  EXPECT_TRUE(copied_to(tools_dir + "/kafka/lib")) << "DEC_TOOLS_DIR=" << tools_dir;
  EXPECT_TRUE(copied_to(tools_dir + "/node_modules")) << "DEC_TOOLS_DIR=" << tools_dir;
  const std::string listen = flag("--listen");
  const std::string port = listen.substr(listen.rfind(':') + 1);
  EXPECT_EQ(listen.substr(0, listen.rfind(':')), "0.0.0.0");
  ASSERT_EQ(file_.all("EXPOSE").size(), 1u);
  EXPECT_EQ(file_.all("EXPOSE")[0]->args, port);
  ASSERT_EQ(file_.all("HEALTHCHECK").size(), 1u);
  EXPECT_NE(file_.all("HEALTHCHECK")[0]->args.find("http://127.0.0.1:" + port + "/api/health"),
            std::string::npos);
  // The service runs as a user of its own, who owns the data dir.
  std::string user;
  for (const auto* u : file_.all("USER")) user = u->args;
  EXPECT_FALSE(user.empty() || user == "root" || user == "0") << "USER " << user;
  bool creates_user = false;
  for (const auto* step : file_.all("RUN")) {
    creates_user |=
        step->stage == file_.stages.size() - 1 && step->args.find("useradd") != std::string::npos &&
        step->args.find(" " + user) != std::string::npos &&
        step->args.find("chown " + user + ":" + user + " " + data_dir) != std::string::npos;
  }
  EXPECT_TRUE(creates_user) << "the runtime stage creates user " << user << " owning " << data_dir;

  // Run as the image would, with the paths mapped into this machine's source tree and a data
  // dir of the test's own. Without a token it refuses to listen beyond loopback (exit 2): an
  // image started without its secret never serves unprotected.
  std::vector<std::string> mapped = {"env", "-u", "DEC_TOKEN", DEC_BINARY};
  for (size_t i = 1; i < argv.size(); ++i) {
    std::string word = argv[i];
    if (word == data_dir) word = (dir_ / "data").string();
    if (word.rfind("/opt/dec/", 0) == 0) word = (kSource / word.substr(9)).string();
    mapped.push_back(word);
  }
  auto [refused, refusal] = run(mapped);
  EXPECT_EQ(refused, 2) << refusal;
  EXPECT_NE(refusal.find("token"), std::string::npos) << refusal;

  // With the token in $DEC_TOKEN (where the image's secret goes) it serves; only the address is
  // changed, to loopback.
  infra::PosixEnv env;
  auto free_port = env.free_tcp_port("127.0.0.1");
  ASSERT_TRUE(free_port.ok());
  std::vector<std::string> serve(mapped.begin() + 3, mapped.end());
  for (auto& word : serve) {
    if (word == listen) word = "127.0.0.1:" + std::to_string(*free_port);
  }
  const std::string token = "image-token-5e1d";
  testing::Child server =
      testing::start(serve, (dir_ / "serve.log").string(), {{"DEC_TOKEN", token}});
  ASSERT_GT(server.pid, 0);
  for (int i = 0; i < 250 && !env.tcp_port_open("127.0.0.1", *free_port); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  httplib::Client client("127.0.0.1", *free_port);
  client.set_read_timeout(10, 0);
  auto health = client.Get("/api/health");
  EXPECT_TRUE(health && health->status == 200) << server.output();
  auto examples = client.Get("/api/examples", {{"Authorization", "Bearer " + token}});
  ASSERT_TRUE(examples);
  EXPECT_EQ(examples->status, 200) << examples->body;
  EXPECT_NE(examples->body.find("redis-quickstart"), std::string::npos)
      << "--examples serves the shipped examples";
  auto unauthorized = client.Post("/api/shutdown", "", "text/plain");
  ASSERT_TRUE(unauthorized);
  EXPECT_EQ(unauthorized->status, 401);
  auto shutdown =
      client.Post("/api/shutdown", {{"Authorization", "Bearer " + token}}, "", "text/plain");
  ASSERT_TRUE(shutdown);
  EXPECT_EQ(shutdown->status, 200) << shutdown->body;
  EXPECT_EQ(testing::wait_exit(server, 20s), 0) << server.output();
}

// ---- deploy/terraform ---------------------------------------------------------------------

const fs::path kModule = kSource / "deploy" / "terraform";

// HCL with comments dropped and string literals emptied, the expressions inside ${...} kept:
// enough to check nesting and find references. Sets `error` on an unclosed string or comment.
std::string hcl_code(const std::string& text, std::string& error) {
  std::string out;
  size_t i = 0;
  auto interpolation = [&](size_t from) {  // from: just after "${"; returns the index after "}"
    int depth = 1;
    size_t k = from;
    for (; k < text.size() && depth > 0; ++k) {
      if (text[k] == '{') ++depth;
      if (text[k] == '}') --depth;
      if (depth > 0) out += text[k];
    }
    out += ' ';
    return k;
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '#' || (c == '/' && i + 1 < text.size() && text[i + 1] == '/')) {
      i = text.find('\n', i);
      if (i == std::string::npos) break;
    } else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
      const auto end = text.find("*/", i + 2);
      if (end == std::string::npos) {
        error = "unclosed /* comment";
        return out;
      }
      i = end + 2;
    } else if (c == '"') {
      out += "\"";
      ++i;
      while (i < text.size() && text[i] != '"') {
        if (text[i] == '\n') {
          error = "string not closed on its line: " + text.substr(text.rfind('\n', i - 1), 60);
          return out;
        }
        if (text[i] == '\\') {
          i += 2;
        } else if (text.compare(i, 2, "${") == 0 || text.compare(i, 2, "%{") == 0) {
          i = interpolation(i + 2);
        } else {
          ++i;
        }
      }
      if (i >= text.size()) {
        error = "unclosed string";
        return out;
      }
      out += "\"";
      ++i;
    } else {
      out += c;
      ++i;
    }
  }
  return out;
}

// The text of the block that starts with the first '{' at or after `from`, braces included.
std::string block_at(const std::string& code, size_t from) {
  const auto open = code.find('{', from);
  if (open == std::string::npos) return "";
  int depth = 0;
  for (size_t k = open; k < code.size(); ++k) {
    if (code[k] == '{') ++depth;
    if (code[k] == '}' && --depth == 0) return code.substr(open, k - open + 1);
  }
  return "";
}

std::set<std::string> matches(const std::string& text, const std::string& pattern, int group = 1) {
  std::set<std::string> out;
  const std::regex re(pattern);
  for (std::sregex_iterator m(text.begin(), text.end(), re), end; m != end; ++m) {
    out.insert((*m)[group].str());
  }
  return out;
}

class TerraformModule : public ScratchTest {
 protected:
  void SetUp() override {
    ScratchTest::SetUp();
    for (const auto& entry : fs::directory_iterator(kModule)) {
      if (entry.path().extension() != ".tf") continue;
      const std::string text = read(entry.path());
      std::string error;
      const std::string code = hcl_code(text, error);
      EXPECT_EQ(error, "") << entry.path();
      raw_ += text + "\n";
      code_ += code + "\n";
      files_[entry.path().filename().string()] = code;
    }
    ASSERT_TRUE(files_.count("main.tf") && files_.count("variables.tf") &&
                files_.count("outputs.tf") && files_.count("versions.tf"));
  }
  std::string raw_, code_;
  std::map<std::string, std::string> files_;
};

TEST_F(TerraformModule, IsWellFormedAndRefersOnlyToWhatItDeclares) {
  for (const auto& [name, code] : files_) {
    std::string stack;
    for (const char c : code) {
      if (c == '{' || c == '[' || c == '(') stack += c;
      if (c == '}' || c == ']' || c == ')') {
        const char open = c == '}' ? '{' : c == ']' ? '[' : '(';
        ASSERT_FALSE(stack.empty() || stack.back() != open) << name << ": unbalanced " << c;
        stack.pop_back();
      }
    }
    EXPECT_TRUE(stack.empty()) << name << ": unclosed " << stack;
  }

  const auto variables = matches(raw_, R"re(variable\s+"([a-z0-9_]+)")re");
  for (const auto& used : matches(code_, R"re(\bvar\.([a-z0-9_]+))re")) {
    EXPECT_TRUE(variables.count(used)) << "var." << used << " is not declared";
  }
  std::set<std::string> declared;
  for (const auto& kind : {std::string("resource"), std::string("data")}) {
    const std::regex re(kind + R"re(\s+"([a-z0-9_]+)"\s+"([a-z0-9_]+)")re");
    for (std::sregex_iterator m(raw_.begin(), raw_.end(), re), end; m != end; ++m) {
      declared.insert((kind == "data" ? "data." : "") + (*m)[1].str() + "." + (*m)[2].str());
    }
  }
  const std::regex reference(R"(\b(data\.)?(aws_[a-z0-9_]+)\.([a-z0-9_]+))");
  size_t references = 0;
  for (std::sregex_iterator m(code_.begin(), code_.end(), reference), end; m != end; ++m) {
    const std::string address = (*m)[1].str() + (*m)[2].str() + "." + (*m)[3].str();
    EXPECT_TRUE(declared.count(address)) << address << " is referred to but not declared";
    ++references;
  }
  EXPECT_GT(references, 5u);
  const std::string locals = block_at(code_, code_.find("locals"));
  for (const auto& used : matches(code_, R"(\blocal\.([a-z0-9_]+))")) {
    EXPECT_TRUE(std::regex_search(locals, std::regex("\\b" + used + "\\s*="))) << "local." << used;
  }
  for (const auto& kind : {"variable", "output"}) {
    const std::regex header(std::string(kind) + R"re(\s+"([a-z0-9_]+)"\s*\{)re");
    for (std::sregex_iterator m(raw_.begin(), raw_.end(), header), end; m != end; ++m) {
      const std::string block = block_at(raw_, static_cast<size_t>(m->position()));
      EXPECT_NE(block.find("description"), std::string::npos)
          << kind << " " << (*m)[1] << " has no description";
    }
  }
}

TEST_F(TerraformModule, AdmitsOnlyTheGivenNetworksAndUsesNoIam) {
  EXPECT_EQ(code_.find("aws_iam_"), std::string::npos);
  EXPECT_EQ(code_.find("iam_instance_profile"), std::string::npos);
  size_t ingress_rules = 0;
  bool api_rule = false;
  // In the text as written: a dynamic block's name ("ingress") is a string.
  for (size_t at = raw_.find("ingress"); at != std::string::npos;
       at = raw_.find("ingress", at + 1)) {
    const std::string block = block_at(raw_, at);
    for (const auto& cidrs : matches(block, R"(cidr_blocks\s*=\s*([^\s}]+))")) {
      ++ingress_rules;
      EXPECT_TRUE(cidrs == "var.allowed_cidrs" || cidrs == "var.ssh_cidrs")
          << "an ingress rule admits " << cidrs;
      api_rule |= cidrs == "var.allowed_cidrs" &&
                  std::regex_search(block, std::regex(R"(from_port\s*=\s*var\.api_port)")) &&
                  std::regex_search(block, std::regex(R"(to_port\s*=\s*var\.api_port)"));
    }
  }
  EXPECT_GT(ingress_rules, 0u);
  EXPECT_TRUE(api_rule) << "the API port is open to var.allowed_cidrs";
  EXPECT_NE(code_.find("for_each = length(var.ssh_cidrs) > 0"), std::string::npos)
      << "SSH only when ssh_cidrs are given";
}

TEST_F(TerraformModule, UserDataTemplateGetsEveryValueItUsesAndIsBash) {
  const std::string& main = files_["main.tf"];
  const auto call = main.find("templatefile(");
  ASSERT_NE(call, std::string::npos);
  const std::string arguments = block_at(main, call);
  std::set<std::string> passed = matches(arguments, R"(\b([a-z0-9_]+)\s*=)");
  const std::string tpl = read(kModule / "user_data.sh.tftpl");
  ASSERT_FALSE(tpl.empty());
  std::set<std::string> used = matches(tpl, R"((^|[^$])\$\{([a-z0-9_]+)\})", 2);
  EXPECT_EQ(used, passed) << "templatefile() passes exactly what user_data.sh.tftpl uses";
  // Only plain ${name} interpolations: everything else would need Terraform to render.
  EXPECT_FALSE(std::regex_search(tpl, std::regex(R"((^|[^$])\$\{[^}]*[^a-z0-9_}][^}]*\})")));
  EXPECT_EQ(tpl.find("%{"), std::string::npos);

  std::string rendered = tpl;
  for (const auto& name : used) {
    const std::string value = name == "api_port"                          ? "8080"
                              : name.find("timeout") != std::string::npos ? "300"
                                                                          : "value-of-" + name;
    rendered = std::regex_replace(rendered, std::regex("\\$\\{" + name + "\\}"), value);
  }
  std::ofstream(dir_ / "user_data.sh") << rendered;
  auto [status, output] = run({"bash", "-n", (dir_ / "user_data.sh").string()});
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(rendered.rfind("#!/bin/bash\n", 0), 0u);
  EXPECT_NE(rendered.find("--env-file /etc/dec/token.env"), std::string::npos);
  EXPECT_NE(rendered.find("Restart=on-failure"), std::string::npos)
      << "dec exiting 0 after POST /api/shutdown must not be restarted";
}

TEST_F(TerraformModule, ReadmeDocumentsEveryVariableAndOutput) {
  const std::string readme = read(kSource / "deploy" / "README.md");
  ASSERT_FALSE(readme.empty());
  for (const auto& kind : {"variable", "output"}) {
    for (const auto& name : matches(raw_, std::string(kind) + R"re(\s+"([a-z0-9_]+)")re")) {
      EXPECT_NE(readme.find("`" + name + "`"), std::string::npos)
          << kind << " " << name << " is not in deploy/README.md";
    }
  }
}

// ---- deploy/cd-replace usage ----------------------------------------------------------------

using CdReplaceUsage = ScratchTest;

TEST_F(CdReplaceUsage, HelpNamesEveryOptionAndMistakesAreUsageErrors) {
  const std::string script = (kSource / "deploy" / "cd-replace").string();
  auto [help_status, help] = run({script, "--help"});
  ASSERT_EQ(help_status, 0) << help;
  const auto options = matches(read(script), R"(\n\s+(--[a-z-]+)\))");
  EXPECT_GE(options.size(), 8u);
  for (const auto& option : options) {
    EXPECT_NE(help.find(option), std::string::npos) << option << " is not in --help";
  }
  for (const std::vector<std::string>& wrong :
       {std::vector<std::string>{script, "--frobnicate", "--", "true"},
        std::vector<std::string>{script, "--url", "http://127.0.0.1:1"},
        std::vector<std::string>{script, "--interval", "soon", "--", "true"},
        std::vector<std::string>{script, "--if-down", "maybe", "--", "true"},
        std::vector<std::string>{script, "--token-file", (dir_ / "absent").string(), "--", "true"},
        std::vector<std::string>{script, "--timeout"}}) {
    auto [status, output] = run(wrong);
    EXPECT_EQ(status, 2) << wrong[1] << ": " << output;
    EXPECT_NE(output.find("cd-replace: "), std::string::npos) << output;
  }
}

}  // namespace
}  // namespace dec
