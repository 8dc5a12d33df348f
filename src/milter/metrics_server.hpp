// metrics_server.hpp - GET /metrics over HTTP, served by libmicrohttpd.
//
// NAME
//   MetricsServer - one libmicrohttpd daemon driven by a thread of its own, bound to
//   metrics.listen.
// DESCRIPTION
//   The thread runs libmicrohttpd's event loop (epoll), apart from libmilter's threads: a
//   scraper never holds a milter thread, and a decision never waits for a scraper. Against slow
//   or hostile clients:
//   - a connection has metrics.timeout seconds from its accept for its request and the answer,
//     however it trickles (libmicrohttpd's own timeout counts idle time only: a byte every few
//     seconds kept a connection for ever); it is shut down then;
//   - one request per connection (every answer says "Connection: close"): nothing stays open
//     waiting for a next request, and the deadline is a request's;
//   - at most metrics.max_connections are served at once; beyond that the oldest that have been
//     open for 250 ms are closed, so connections that trickle (or come back as soon as they are
//     closed) cannot keep a local scraper or `routectl stats` out: a request answered in
//     milliseconds is never one of them, even when it came in the same burst as the tricklers.
//     libmicrohttpd itself refuses connections beyond twice as many at accept;
//   - a request's header may use 16 KiB (more: 431 and close).
//   Only GET and HEAD of /metrics are answered (200); any other path 404, any other method 405.
// DIAGNOSTICS
//   start returns the reason (bind failure, address in use) as one line; libmicrohttpd's own
//   messages and the connections shut at their deadline or to make room go to the daemon's log,
//   at most one line a second.
#pragma once

#include "route_milter/common/fd.hpp"
#include "route_milter/core/config.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

struct MHD_Daemon;
struct MHD_Connection;

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
    using Clock = std::chrono::steady_clock;
    // An open connection, in accept order (the oldest first). Touched only by the loop's thread
    // (libmicrohttpd calls back from MHD_run there), and by the destructor once it has ended.
    struct Client {
        MHD_Connection* connection;
        int fd;
        Clock::time_point deadline;
        bool shut = false;  // shut down: libmicrohttpd closes it at its next turn
    };

    MetricsServer(const MetricsSettings& settings, Render render);
    void connection_started(MHD_Connection* connection);
    void connection_closed(MHD_Connection* connection);
    void run();
    void shut(Client& client, const char* why);
    void shut_overdue(Clock::time_point now);
    void make_room(Clock::time_point now);
    std::size_t open_connections() const;
    static constexpr std::chrono::milliseconds room_settle{250};
    int wait_ms(Clock::time_point now) const;

    Render render_;
    std::size_t max_connections_;
    std::chrono::seconds time_limit_;
    std::vector<Client> clients_;
    MHD_Daemon* daemon_ = nullptr;
    Fd wake_;  // an eventfd: the destructor asks the loop to end
    std::thread loop_;
};

}  // namespace route_milter
