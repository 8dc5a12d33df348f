// metrics_server.cpp - libmicrohttpd glue for /metrics; see metrics_server.hpp.
#include "metrics_server.hpp"

#include "route_milter/common/log.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <cstring>

namespace route_milter {
namespace {

constexpr std::size_t header_memory_limit = 16 * 1024;
constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

// One log line a message, marked as ours, at most one a second (a flood of refused or shut
// scrapers must not flood the mail log). Only the server's thread logs here (and start and the
// destructor, when it does not run).
void log_limited_v(const char* format, va_list args) {
    static std::time_t last = 0;
    static unsigned suppressed = 0;
    const std::time_t now = std::time(nullptr);
    if (now == last) {
        ++suppressed;
        return;
    }
    last = now;
    if (suppressed != 0) log_line(LOG_WARNING, "metrics: %u similar messages suppressed", suppressed);
    suppressed = 0;
    char text[1024];
    std::vsnprintf(text, sizeof text, format, args);
    std::size_t n = std::strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';  // libmicrohttpd's end in one
    log_line(LOG_WARNING, "metrics: %s", text);
}

void log_limited(const char* format, ...) __attribute__((format(printf, 1, 2)));
void log_limited(const char* format, ...) {
    va_list args;
    va_start(args, format);
    log_limited_v(format, args);
    va_end(args);
}

void log_from_mhd(void*, const char* format, va_list args) { log_limited_v(format, args); }

MHD_Result reply(MHD_Connection* connection, unsigned status, const std::string& body, const char* allow = nullptr) {
    MHD_Response* response = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                              MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? content_type : "text/plain; charset=utf-8");
    // One request a connection: its deadline is the request's (metrics_server.hpp).
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
    if (allow != nullptr) MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow);
    const MHD_Result queued = MHD_queue_response(connection, status, response);
    MHD_destroy_response(response);
    return queued;
}

MHD_Result on_request(void* cls, MHD_Connection* connection, const char* url, const char* method, const char*,
                      const char*, size_t*, void**) {
    const auto* server = static_cast<const MetricsServer*>(cls);
    // Answered at the first call, before any body is read: a body is never wanted.
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 && std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET /metrics\n", "GET, HEAD");
    if (std::strcmp(url, "/metrics") != 0) return reply(connection, MHD_HTTP_NOT_FOUND, "only GET /metrics\n");
    try {
        return reply(connection, MHD_HTTP_OK, server->render()());
    } catch (const std::exception& e) {
        log_line(LOG_ERR, "metrics: cannot render the page: %s", e.what());
        return reply(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error\n");
    }
}

// "127.0.0.1", "::1": the client of a connection, for the log.
std::string client_of(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char text[INET6_ADDRSTRLEN] = "?";
    if (info != nullptr && info->client_addr != nullptr) {
        const sockaddr* a = info->client_addr;
        if (a->sa_family == AF_INET)
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text, sizeof text);
        else if (a->sa_family == AF_INET6)
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text, sizeof text);
    }
    return text;
}

}  // namespace

MetricsServer::MetricsServer(const MetricsSettings& settings, Render render)
    : render_(std::move(render)),
      max_connections_(static_cast<std::size_t>(settings.max_connections)),
      time_limit_(settings.timeout),
      wake_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

std::variant<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(const MetricsSettings& settings,
                                                                               Render render) {
    std::unique_ptr<MetricsServer> server(new MetricsServer(settings, std::move(render)));
    if (server->wake_.get() < 0) return std::string("eventfd: ") + std::strerror(errno);
    sockaddr_storage address{};
    // No internal thread: run() drives the loop, so that it can also shut connections down at
    // their deadline between two turns of libmicrohttpd, on the same thread.
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    const std::string& host = settings.listen.host();
    const auto port = static_cast<std::uint16_t>(settings.listen.port());
    if (settings.listen.family() == MilterSocket::Family::inet6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        if (::inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) return "not an IPv6 address (" + host + ")";
        flags |= MHD_USE_IPv6;
    } else {
        auto* in = reinterpret_cast<sockaddr_in*>(&address);
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        if (::inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1) return "not an IPv4 address (" + host + ")";
    }
    // Within a member: the callback may reach the private members.
    const MHD_NotifyConnectionCallback notify = [](void* cls, MHD_Connection* connection, void**,
                                                   MHD_ConnectionNotificationCode code) {
        auto* self = static_cast<MetricsServer*>(cls);
        if (code == MHD_CONNECTION_NOTIFY_STARTED) self->connection_started(connection);
        else self->connection_closed(connection);
    };
    // Room for as many again: a connection shut to make room is closed at libmicrohttpd's next turn.
    const unsigned accepted = static_cast<unsigned>(2 * server->max_connections_);
    errno = 0;
    server->daemon_ = MHD_start_daemon(
        flags, port, nullptr, nullptr, &on_request, server.get(),
        MHD_OPTION_EXTERNAL_LOGGER, &log_from_mhd, nullptr,  // first: the options after it log through it
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address),
        MHD_OPTION_CONNECTION_LIMIT, accepted,
        // The deadline is run()'s; libmicrohttpd's idle timeout (never later) stays as a backstop.
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(settings.timeout),
        MHD_OPTION_NOTIFY_CONNECTION, notify, server.get(),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, header_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 16u,
        MHD_OPTION_END);
    if (server->daemon_ == nullptr)
        return "cannot listen on " + settings.listen.text() + (errno != 0 ? std::string(": ") + std::strerror(errno) : "");
    const MHD_DaemonInfo* epoll = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_EPOLL_FD);
    if (epoll == nullptr || epoll->epoll_fd < 0) return std::string("libmicrohttpd gives no epoll descriptor");
    server->loop_ = std::thread([s = server.get()] { s->run(); });
    return server;
}

MetricsServer::~MetricsServer() {
    if (loop_.joinable()) {
        const std::uint64_t one = 1;
        if (::write(wake_.get(), &one, sizeof one) != sizeof one) log_line(LOG_ERR, "metrics: cannot stop the server thread");
        loop_.join();
    }
    if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

void MetricsServer::connection_started(MHD_Connection* connection) {
    const MHD_ConnectionInfo* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    clients_.push_back({connection, info != nullptr ? info->connect_fd : -1, Clock::now() + time_limit_});
}

std::size_t MetricsServer::open_connections() const {
    return static_cast<std::size_t>(std::count_if(clients_.begin(), clients_.end(), [](const Client& c) { return !c.shut; }));
}

// Over metrics.max_connections, the oldest go, but only those open for room_settle at least:
// a scraper accepted in the same burst as reconnecting tricklers has had its turn to be answered
// by then, and is never the one shut.
void MetricsServer::make_room(Clock::time_point now) {
    std::size_t open = open_connections();
    for (Client& c : clients_) {
        if (open <= max_connections_) return;
        if (c.shut || now - (c.deadline - time_limit_) < room_settle) continue;
        shut(c, "to make room for a newer one (metrics.max_connections)");
        --open;
    }
}

void MetricsServer::connection_closed(MHD_Connection* connection) {
    std::erase_if(clients_, [&](const Client& c) { return c.connection == connection; });
}

void MetricsServer::shut(Client& client, const char* why) {
    client.shut = true;
    log_limited("connection from %s shut down %s", client_of(client.connection).c_str(), why);
    // libmicrohttpd owns the descriptor: shutdown() leaves it open, and its next turn reads the
    // end of the stream and closes the connection itself.
    if (client.fd >= 0) ::shutdown(client.fd, SHUT_RDWR);
}

void MetricsServer::shut_overdue(Clock::time_point now) {
    char why[96];
    std::snprintf(why, sizeof why, "after %lld s without a whole request and answer (metrics.timeout)",
                  static_cast<long long>(time_limit_.count()));
    for (Client& c : clients_)
        if (!c.shut && c.deadline <= now) shut(c, why);
}

// How long the loop may sleep: until libmicrohttpd wants a turn, or the next deadline.
int MetricsServer::wait_ms(Clock::time_point now) const {
    long long wait = -1;
    MHD_UNSIGNED_LONG_LONG mhd = 0;
    if (MHD_get_timeout(daemon_, &mhd) == MHD_YES) wait = static_cast<long long>(std::min<MHD_UNSIGNED_LONG_LONG>(mhd, 60000));
    const auto next = std::find_if(clients_.begin(), clients_.end(), [](const Client& c) { return !c.shut; });
    if (next != clients_.end()) {
        const auto until = std::chrono::ceil<std::chrono::milliseconds>(next->deadline - now).count();
        wait = wait < 0 ? std::max<long long>(until, 0) : std::min<long long>(wait, std::max<long long>(until, 0));
    }
    if (open_connections() > max_connections_) {  // make_room again once the young ones have settled
        const long long settle = std::chrono::ceil<std::chrono::milliseconds>(room_settle).count();
        wait = wait < 0 ? settle : std::min(wait, settle);
    }
    return static_cast<int>(wait);
}

void MetricsServer::run() {
    const Fd events(::epoll_create1(EPOLL_CLOEXEC));
    const int mhd = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD)->epoll_fd;
    epoll_event watch{};
    watch.events = EPOLLIN;
    watch.data.fd = mhd;
    bool ok = events.get() >= 0 && ::epoll_ctl(events.get(), EPOLL_CTL_ADD, mhd, &watch) == 0;
    watch.data.fd = wake_.get();
    ok = ok && ::epoll_ctl(events.get(), EPOLL_CTL_ADD, wake_.get(), &watch) == 0;
    if (!ok) {
        log_line(LOG_ERR, "metrics: cannot wait for connections (%s); /metrics is not served", std::strerror(errno));
        return;
    }
    for (;;) {
        epoll_event ready[2];
        const int n = ::epoll_wait(events.get(), ready, 2, wait_ms(Clock::now()));
        if (n < 0 && errno != EINTR) {
            log_line(LOG_ERR, "metrics: cannot wait for connections (%s); /metrics is no longer served", std::strerror(errno));
            return;
        }
        for (int i = 0; i < n; ++i)
            if (ready[i].data.fd == wake_.get()) return;
        MHD_run(daemon_);
        shut_overdue(Clock::now());
        make_room(Clock::now());
    }
}

}  // namespace route_milter
