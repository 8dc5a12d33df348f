#include "libmilter_wraps.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/un.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

namespace route_milter {
namespace {
std::atomic<bool> quickack{false};
std::atomic<void (*)()> sighup_handler{nullptr};
sockaddr_storage listen_address{};
socklen_t listen_address_size = 0;

// Connects to the milter's own socket once, shortly after libmilter has set its stop flag.
void wake_listener() {
    if (listen_address_size == 0) return;
    std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        const int fd = ::socket(listen_address.ss_family, SOCK_STREAM, 0);
        if (fd < 0) return;
        ::connect(fd, reinterpret_cast<const sockaddr*>(&listen_address), listen_address_size);
        ::close(fd);
    }).detach();
}
}  // namespace

// Where a connection reaches the listener: the socket's own address, or the loopback address
// of its family when it listens on every address (no host, 0.0.0.0, ::) or on a name that
// does not resolve.
void set_listen_address(const MilterSocket& socket) {
    listen_address = {};
    listen_address_size = 0;
    if (socket.is_unix()) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        if (socket.path().size() >= sizeof un.sun_path) return;
        std::memcpy(un.sun_path, socket.path().c_str(), socket.path().size() + 1);
        std::memcpy(&listen_address, &un, sizeof un);
        listen_address_size = sizeof un;
        return;
    }
    const bool v6 = socket.family() == MilterSocket::Family::inet6;
    const int family = v6 ? AF_INET6 : AF_INET;
    const std::string& host = socket.host();
    addrinfo hints{};
    hints.ai_family = family;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(socket.port());
    if (!host.empty() && ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) == 0 && found != nullptr &&
        found->ai_addrlen <= sizeof listen_address) {
        std::memcpy(&listen_address, found->ai_addr, found->ai_addrlen);
        listen_address_size = found->ai_addrlen;
    }
    if (found != nullptr) ::freeaddrinfo(found);
    if (v6) {
        sockaddr_in6 in6{};
        if (listen_address_size != 0) std::memcpy(&in6, &listen_address, sizeof in6);
        if (listen_address_size == 0 || IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr)) {
            in6 = {};
            in6.sin6_family = AF_INET6;
            in6.sin6_addr = in6addr_loopback;
            in6.sin6_port = htons(static_cast<std::uint16_t>(socket.port()));
        }
        std::memcpy(&listen_address, &in6, sizeof in6);
        listen_address_size = sizeof in6;
    } else {
        sockaddr_in in{};
        if (listen_address_size != 0) std::memcpy(&in, &listen_address, sizeof in);
        if (listen_address_size == 0 || in.sin_addr.s_addr == htonl(INADDR_ANY)) {
            in = {};
            in.sin_family = AF_INET;
            in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            in.sin_port = htons(static_cast<std::uint16_t>(socket.port()));
        }
        std::memcpy(&listen_address, &in, sizeof in);
        listen_address_size = sizeof in;
    }
}

void enable_tcp_quickack(bool on) { quickack.store(on, std::memory_order_relaxed); }

// The kernel leaves quick-ACK mode again after a while: re-arm it after every read.
void quickack_after_io(int fd) {
    if (!quickack.load(std::memory_order_relaxed)) return;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
}
void set_sighup_handler(void (*handler)()) { sighup_handler.store(handler); }

}  // namespace route_milter

extern "C" {
ssize_t __real_read(int fd, void* buffer, size_t size);
int __real_sigwait(const sigset_t* set, int* signal_number);

ssize_t __wrap_read(int fd, void* buffer, size_t size) {
    const ssize_t n = __real_read(fd, buffer, size);
    if (n > 0) route_milter::quickack_after_io(fd);
    return n;
}


int __wrap_sigwait(const sigset_t* set, int* signal_number) {
    for (;;) {
        const int rc = __real_sigwait(set, signal_number);
        void (*handler)() = route_milter::sighup_handler.load();
        if (rc == 0 && (*signal_number == SIGTERM || *signal_number == SIGINT)) route_milter::wake_listener();
        if (rc != 0 || *signal_number != SIGHUP || handler == nullptr) return rc;
        handler();
    }
}
}
