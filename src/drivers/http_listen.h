// Binding dec's HTTP servers (the API server, load agents, the Kinesis quota proxy) with a listen
// backlog deep enough for bursts of new connections.
//
// The cpp-httplib that Debian ships is a compiled library whose servers listen with a backlog of
// 5, which CPPHTTPLIB_LISTEN_BACKLOG cannot change from here. When a burst of connections arrives
// while the accept thread waits for a core (50 clients polling while a full-rate run keeps both
// cores busy), the accept queue overflows, the kernel drops the SYNs and each of those clients
// waits out a 1 s retransmission. These functions bind as httplib does, then listen again on
// the bound socket with kListenBacklog (Linux adjusts the backlog of a listening socket in place;
// the kernel caps it at net.core.somaxconn).
#pragma once

#include <string>

namespace httplib {
class Server;
}

namespace dec::drivers {

constexpr int kListenBacklog = 1024;

// Like httplib::Server::bind_to_port, with the deeper backlog; false if the port could not be
// bound.
bool bind_http_server(httplib::Server& server, const std::string& host, int port);

// Like httplib::Server::bind_to_any_port: the port the kernel chose, or -1.
int bind_http_server_any_port(httplib::Server& server, const std::string& host);

}  // namespace dec::drivers
