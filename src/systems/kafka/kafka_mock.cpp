#include "systems/kafka/kafka_mock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include "drivers/config_checks.h"

namespace dec::drivers {
namespace {

using Clock = std::chrono::steady_clock;

// A request line longer than this is not one of ours.
constexpr size_t kMaxRequestBytes = 1024;
// How long the control port waits for a client's request line before hanging up.
constexpr auto kRequestReadTimeout = std::chrono::seconds(2);

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t position = 0;
  while (position < line.size()) {
    size_t start = line.find_first_not_of(" \t\r\n", position);
    if (start == std::string_view::npos) break;
    size_t end = line.find_first_of(" \t\r\n", start);
    if (end == std::string_view::npos) end = line.size();
    words.push_back(line.substr(start, end - start));
    position = end;
  }
  return words;
}

class FileDescriptor {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_(fd) {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~FileDescriptor() { reset(); }
  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 60'000));
}

// Waits for `events` on `fd` until `deadline`; false on timeout or error.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd descriptor{fd, events, 0};
    int ready = ::poll(&descriptor, 1, remaining_ms(deadline));
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
  }
}

// Reads until a newline, EOF, kMaxRequestBytes or the deadline; the line without its newline.
std::optional<std::string> read_line(int fd, Clock::time_point deadline) {
  std::string line;
  std::array<char, 256> buffer;
  while (line.find('\n') == std::string::npos && line.size() < kMaxRequestBytes) {
    if (!wait_for(fd, POLLIN, deadline)) return std::nullopt;
    ssize_t got = ::recv(fd, buffer.data(), buffer.size(), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return std::nullopt;
    if (got == 0) break;
    line.append(buffer.data(), static_cast<size_t>(got));
  }
  if (size_t newline = line.find('\n'); newline != std::string::npos) line.resize(newline);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

bool write_all(int fd, std::string_view text, Clock::time_point deadline) {
  while (!text.empty()) {
    if (!wait_for(fd, POLLOUT, deadline)) return false;
    ssize_t written = ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    text.remove_prefix(static_cast<size_t>(written));
  }
  return true;
}

Result<sockaddr_in> parse_ipv4_address(const std::string& text) {
  size_t colon = text.rfind(':');
  auto port = colon == std::string::npos ? std::nullopt
                                         : parse_integer(std::string_view(text).substr(colon + 1));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  if (!port || *port < 1 || *port > 65535 ||
      ::inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1) {
    return make_error("bad kafka mock control address \"" + text + "\": expected IPv4:port");
  }
  address.sin_port = htons(static_cast<uint16_t>(*port));
  return address;
}

std::string mock_error(rd_kafka_resp_err_t error) {
  return std::string(rd_kafka_err2name(error)) + ": " + rd_kafka_err2str(error);
}

}  // namespace

std::string kafka_mock_control_file(const std::string& bootstrap_file) {
  return bootstrap_file + ".control";
}

// ---- the cluster and its control port -------------------------------------------------------

struct KafkaMockCluster::State {
  int brokers = 0;
  rd_kafka_t* handle = nullptr;  // the mock cluster's bookkeeping client
  rd_kafka_mock_cluster_t* cluster = nullptr;
  KafkaMockAddresses addresses;
  FileDescriptor listener;
  FileDescriptor wakeup;  // eventfd: written once to stop the control thread
  std::thread control_thread;

  ~State() {
    if (control_thread.joinable()) {
      uint64_t one = 1;
      (void)!::write(wakeup.get(), &one, sizeof(one));
      control_thread.join();
    }
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    if (handle) rd_kafka_destroy(handle);
  }

  Status check_broker(int broker_id) const {
    if (broker_id >= 1 && broker_id <= brokers) return Status::Ok();
    return make_error("no broker " + std::to_string(broker_id) + " (the mock has brokers 1.." +
                      std::to_string(brokers) + ")");
  }
};

namespace {

// One request per connection, served in turn: requests are rare (topic creation, faults).
void serve_control(KafkaMockCluster& cluster, int listener, int wakeup) {
  for (;;) {
    std::array<pollfd, 2> descriptors{{{listener, POLLIN, 0}, {wakeup, POLLIN, 0}}};
    int ready = ::poll(descriptors.data(), descriptors.size(), -1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || descriptors[1].revents != 0) return;
    FileDescriptor client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!client.valid()) continue;
    auto deadline = Clock::now() + kRequestReadTimeout;
    auto request = read_line(client.get(), deadline);
    if (!request) continue;
    std::string reply = cluster.handle_request(*request) + "\n";
    (void)write_all(client.get(), reply, deadline);
  }
}

Result<FileDescriptor> listen_on_loopback(std::string& address_text) {
  FileDescriptor listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!listener.valid() ||
      ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::listen(listener.get(), 16) != 0 ||
      ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return make_error(std::string("cannot open the kafka mock control port: ") +
                      std::strerror(errno));
  }
  address_text = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  return listener;
}

}  // namespace

KafkaMockCluster::KafkaMockCluster(std::unique_ptr<State> state) : state_(std::move(state)) {}
KafkaMockCluster::~KafkaMockCluster() = default;

Result<std::unique_ptr<KafkaMockCluster>> KafkaMockCluster::start(int brokers) {
  if (brokers < 1 || brokers > 100) return make_error("kafka mock: brokers must be from 1 to 100");
  auto state = std::make_unique<State>();
  state->brokers = brokers;
  std::array<char, 512> error{};
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The bookkeeping client has no bootstrap.servers on purpose; drop that notice (level 5).
  if (rd_kafka_conf_set(conf, "log_level", "4", error.data(), error.size()) != RD_KAFKA_CONF_OK) {
    rd_kafka_conf_destroy(conf);
    return make_error(std::string("kafka mock: ") + error.data());
  }
  state->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error.data(), error.size());
  if (!state->handle) {
    rd_kafka_conf_destroy(conf);
    return make_error(std::string("kafka mock: cannot create its client: ") + error.data());
  }
  state->cluster = rd_kafka_mock_cluster_new(state->handle, brokers);
  if (!state->cluster) return make_error("kafka mock: cannot create the mock cluster");
  state->addresses.bootstrap_servers = rd_kafka_mock_cluster_bootstraps(state->cluster);

  auto listener = listen_on_loopback(state->addresses.control);
  if (!listener.ok()) return make_error(listener.error());
  state->listener = std::move(*listener);
  state->wakeup = FileDescriptor(::eventfd(0, EFD_CLOEXEC));
  if (!state->wakeup.valid()) {
    return make_error(std::string("kafka mock: eventfd: ") + std::strerror(errno));
  }
  auto cluster = std::unique_ptr<KafkaMockCluster>(new KafkaMockCluster(std::move(state)));
  State& started = *cluster->state_;
  started.control_thread =
      std::thread(serve_control, std::ref(*cluster), started.listener.get(), started.wakeup.get());
  return cluster;
}

const KafkaMockAddresses& KafkaMockCluster::addresses() const { return state_->addresses; }
int KafkaMockCluster::brokers() const { return state_->brokers; }

Result<bool> KafkaMockCluster::create_topic(const std::string& topic, int partitions) {
  if (partitions < 1 || partitions > 100000) {
    return make_error("topic " + topic + ": partitions must be from 1 to 100000");
  }
  // The mock ignores the replication factor given here and uses min(3, brokers).
  rd_kafka_resp_err_t error = rd_kafka_mock_topic_create(state_->cluster, topic.c_str(), partitions,
                                                         std::min(3, state_->brokers));
  if (error && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
    return make_error("kafka mock: cannot create topic " + topic + ": " + mock_error(error));
  }
  return error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS;
}

Status KafkaMockCluster::set_broker_up(int broker_id, bool up) {
  if (Status ok = state_->check_broker(broker_id); !ok) return ok;
  rd_kafka_resp_err_t error = up ? rd_kafka_mock_broker_set_up(state_->cluster, broker_id)
                                 : rd_kafka_mock_broker_set_down(state_->cluster, broker_id);
  if (error) {
    return make_error("kafka mock: broker " + std::to_string(broker_id) + ": " + mock_error(error));
  }
  return Status::Ok();
}

Status KafkaMockCluster::set_broker_rtt(int broker_id, std::chrono::milliseconds rtt) {
  if (Status ok = state_->check_broker(broker_id); !ok) return ok;
  if (rtt.count() < 0 || rtt.count() > 600'000) {
    return make_error("kafka mock: rtt must be from 0 to 600000 ms");
  }
  rd_kafka_resp_err_t error =
      rd_kafka_mock_broker_set_rtt(state_->cluster, broker_id, static_cast<int>(rtt.count()));
  if (error) {
    return make_error("kafka mock: broker " + std::to_string(broker_id) + ": " + mock_error(error));
  }
  return Status::Ok();
}

std::string KafkaMockCluster::handle_request(std::string_view request) {
  std::vector<std::string_view> words = split_words(request);
  auto reply = [](const Status& status, const char* ok_text) {
    return status ? std::string(ok_text) : "error " + status.error();
  };
  auto number = [&](size_t index) {
    return index < words.size() ? parse_integer(words[index]) : std::nullopt;
  };
  if (words.size() == 1 && words[0] == "ping") return "ok";
  if (words.size() == 3 && words[0] == "create-topic" && number(2)) {
    auto created = create_topic(std::string(words[1]), static_cast<int>(*number(2)));
    if (!created.ok()) return "error " + created.error();
    return *created ? "ok created" : "ok exists";
  }
  if (words.size() == 2 && (words[0] == "broker-down" || words[0] == "broker-up") && number(1)) {
    return reply(set_broker_up(static_cast<int>(*number(1)), words[0] == "broker-up"), "ok");
  }
  if (words.size() == 3 && words[0] == "broker-rtt" && number(1) && number(2)) {
    return reply(
        set_broker_rtt(static_cast<int>(*number(1)), std::chrono::milliseconds(*number(2))), "ok");
  }
  return "error unknown request \"" + std::string(request.substr(0, 100)) +
         "\"; expected ping, create-topic NAME PARTITIONS, broker-down ID, broker-up ID or "
         "broker-rtt ID MS";
}

// ---- client side ----------------------------------------------------------------------------

Result<std::string> kafka_mock_request(const std::string& control_address,
                                       const std::string& request,
                                       std::chrono::milliseconds timeout) {
  auto address = parse_ipv4_address(control_address);
  if (!address.ok()) return make_error(address.error());
  auto deadline = Clock::now() + timeout;
  std::string where = "kafka mock control port " + control_address;
  FileDescriptor socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!socket.valid()) return make_error(where + ": socket: " + std::strerror(errno));
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof(*address)) !=
          0 &&
      errno != EINPROGRESS) {
    return make_error("cannot connect to " + where + ": " + std::strerror(errno));
  }
  if (!wait_for(socket.get(), POLLOUT, deadline)) {
    return make_error("cannot connect to " + where + " within " + std::to_string(timeout.count()) +
                      " ms");
  }
  int error = 0;
  socklen_t length = sizeof(error);
  ::getsockopt(socket.get(), SOL_SOCKET, SO_ERROR, &error, &length);
  if (error != 0) return make_error("cannot connect to " + where + ": " + std::strerror(error));
  if (!write_all(socket.get(), request + "\n", deadline)) {
    return make_error("cannot send \"" + request + "\" to " + where);
  }
  auto reply = read_line(socket.get(), deadline);
  if (!reply) {
    return make_error(where + " did not answer \"" + request + "\" within " +
                      std::to_string(timeout.count()) + " ms");
  }
  if (reply->starts_with("error ")) return make_error(reply->substr(6));
  if (*reply == "ok") return std::string();
  if (reply->starts_with("ok ")) return reply->substr(3);
  return make_error(where + " gave an unexpected reply \"" + *reply + "\"");
}

// ---- dec kafka-mock -------------------------------------------------------------------------

namespace {

constexpr const char* kKafkaMockUsage =
    "usage: dec kafka-mock --brokers N --bootstrap-file FILE\n"
    "Runs librdkafka's mock Kafka cluster (an emulator) until SIGTERM/SIGINT. Once it accepts\n"
    "connections, FILE holds its bootstrap servers and FILE.control its control address.\n";

Status write_file_atomically(const std::string& path, const std::string& text) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return make_error("cannot write " + temporary);
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(temporary.c_str());
    return make_error("cannot rename " + temporary + " to " + path + ": " + why);
  }
  return Status::Ok();
}

// The control file first: whoever sees the bootstrap file may rely on the control file.
Status publish_addresses(const std::string& bootstrap_file, const KafkaMockAddresses& addresses) {
  if (Status written =
          write_file_atomically(kafka_mock_control_file(bootstrap_file), addresses.control + "\n");
      !written) {
    return written;
  }
  return write_file_atomically(bootstrap_file, addresses.bootstrap_servers + "\n");
}

}  // namespace

int kafka_mock_main(const std::vector<std::string>& args) {
  int brokers = 0;
  std::string bootstrap_file;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kKafkaMockUsage, stdout);
      return 0;
    }
    bool has_value = i + 1 < args.size();
    if (arg == "--brokers" && has_value) {
      auto number = parse_integer(args[++i]);
      brokers = number && *number >= 1 && *number <= 100 ? static_cast<int>(*number) : -1;
    } else if (arg == "--bootstrap-file" && has_value) {
      bootstrap_file = args[++i];
    } else {
      std::fprintf(stderr, "dec kafka-mock: unexpected argument \"%s\"\n%s", arg.c_str(),
                   kKafkaMockUsage);
      return 2;
    }
  }
  if (brokers < 1 || bootstrap_file.empty()) {
    std::fprintf(stderr, "dec kafka-mock: %s\n%s",
                 brokers < 0 ? "--brokers must be from 1 to 100" : "missing an option",
                 kKafkaMockUsage);
    return 2;
  }
  // Blocked before any thread starts, so every librdkafka and control thread inherits the mask
  // and the signals wait for sigwait below instead of killing the process mid-write.
  sigset_t signals;
  sigemptyset(&signals);
  for (int signal_number : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&signals, signal_number);
  sigset_t previous;
  pthread_sigmask(SIG_BLOCK, &signals, &previous);

  int exit_code = 0;
  {
    auto cluster = KafkaMockCluster::start(brokers);
    if (!cluster.ok()) {
      std::fprintf(stderr, "dec kafka-mock: %s\n", cluster.error().c_str());
      exit_code = 1;
    } else if (Status written = publish_addresses(bootstrap_file, (*cluster)->addresses());
               !written) {
      std::fprintf(stderr, "dec kafka-mock: %s\n", written.error().c_str());
      exit_code = 1;
    } else {
      std::printf(
          "dec kafka-mock: %d brokers at %s, control port %s (librdkafka %s mock cluster)\n",
          brokers, (*cluster)->addresses().bootstrap_servers.c_str(),
          (*cluster)->addresses().control.c_str(), rd_kafka_version_str());
      std::fflush(stdout);
      int received = 0;
      sigwait(&signals, &received);
      std::printf("dec kafka-mock: stopping on signal %d\n", received);
      std::fflush(stdout);
      // Gone before the cluster is, so nobody reads addresses that no longer answer.
      std::remove(bootstrap_file.c_str());
      std::remove(kafka_mock_control_file(bootstrap_file).c_str());
    }
  }
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return exit_code;
}

}  // namespace dec::drivers
