#include "drivers/http_listen.h"

#include <httplib.h>
#include <sys/socket.h>

#include <memory>

namespace dec::drivers {
namespace {

// Records the server socket httplib creates (its default options kept) so that it can listen
// again after the bind; returns where the descriptor will be.
std::shared_ptr<int> record_listening_socket(httplib::Server& server) {
  auto socket = std::make_shared<int>(-1);
  server.set_socket_options([socket](socket_t sock) {
    httplib::default_socket_options(sock);
    *socket = sock;
  });
  return socket;
}

bool deepen_backlog(const std::shared_ptr<int>& socket) {
  return *socket >= 0 && ::listen(*socket, kListenBacklog) == 0;
}

}  // namespace

bool bind_http_server(httplib::Server& server, const std::string& host, int port) {
  auto socket = record_listening_socket(server);
  return server.bind_to_port(host, port) && deepen_backlog(socket);
}

int bind_http_server_any_port(httplib::Server& server, const std::string& host) {
  auto socket = record_listening_socket(server);
  const int port = server.bind_to_any_port(host);
  return port > 0 && deepen_backlog(socket) ? port : -1;
}

}  // namespace dec::drivers
