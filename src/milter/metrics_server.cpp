// metrics_server.cpp - libmicrohttpd glue for /metrics; see metrics_server.hpp.
#include "metrics_server.hpp"

#include "route_milter/common/log.hpp"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <ctime>
#include <cstring>

namespace route_milter {
namespace {

constexpr std::size_t header_memory_limit = 16 * 1024;
constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

// libmicrohttpd's messages end with a newline; one log line each, marked as ours, at most one a
// second (a flood of refused scrapers must not flood the mail log). Only the server's thread logs here.
void log_from_mhd(void*, const char* format, va_list args) {
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
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';
    log_line(LOG_WARNING, "metrics: %s", text);
}

MHD_Result reply(MHD_Connection* connection, unsigned status, const std::string& body, const char* allow = nullptr) {
    MHD_Response* response = MHD_create_response_from_buffer(body.size(), const_cast<char*>(body.data()),
                                                              MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? content_type : "text/plain; charset=utf-8");
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

}  // namespace

std::variant<std::unique_ptr<MetricsServer>, std::string> MetricsServer::start(const MetricsSettings& settings,
                                                                               Render render) {
    std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(render)));
    sockaddr_storage address{};
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
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
    const unsigned limit = static_cast<unsigned>(settings.max_connections);
    errno = 0;
    server->daemon_ = MHD_start_daemon(
        flags, port, nullptr, nullptr, &on_request, server.get(),
        MHD_OPTION_EXTERNAL_LOGGER, &log_from_mhd, nullptr,  // first: the options after it log through it
        MHD_OPTION_SOCK_ADDR, reinterpret_cast<sockaddr*>(&address),
        MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, limit > 1 ? limit / 2 : 1u,
        MHD_OPTION_CONNECTION_TIMEOUT, static_cast<unsigned>(settings.timeout),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, header_memory_limit,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 16u,
        MHD_OPTION_END);
    if (server->daemon_ == nullptr)
        return "cannot listen on " + settings.listen.text() + (errno != 0 ? std::string(": ") + std::strerror(errno) : "");
    return server;
}

MetricsServer::~MetricsServer() {
    if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace route_milter
