// metrics_server.hpp - GET /metrics over HTTP, served by libmicrohttpd.
//
// NAME
//   MetricsServer - one libmicrohttpd daemon with its own thread, bound to metrics.listen.
// DESCRIPTION
//   libmicrohttpd runs one internal thread (epoll), apart from libmilter's threads: a scraper
//   never holds a milter thread, and a decision never waits for a scraper. Against slow or
//   hostile clients: at most metrics.max_connections at once (more are closed at accept), at most
//   max_connections/2 (at least 1) from one IP address, a connection idle for metrics.timeout
//   seconds is closed, and a request's header may use 16 KiB (more: 431 and close). Only GET
//   and HEAD of /metrics are answered (200); any other path 404, any other method 405.
// DIAGNOSTICS
//   start returns the reason (bind failure, address in use) as one line; libmicrohttpd's own
//   messages go to the daemon's log.
#pragma once

#include "route_milter/core/config.hpp"

#include <functional>
#include <memory>
#include <string>
#include <variant>

struct MHD_Daemon;

namespace route_milter {

class MetricsServer {
public:
    using Render = std::function<std::string()>;

    static std::variant<std::unique_ptr<MetricsServer>, std::string> start(const MetricsSettings& settings, Render render);
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    const Render& render() const { return render_; }

private:
    explicit MetricsServer(Render render) : render_(std::move(render)) {}
    Render render_;
    MHD_Daemon* daemon_ = nullptr;
};

}  // namespace route_milter
