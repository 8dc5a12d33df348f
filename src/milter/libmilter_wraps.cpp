#include "libmilter_wraps.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/un.h>

#include <atomic>
#include <chrono>
#include <cstring>
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

void set_listen_address(const std::string& socket) {
    const std::size_t colon = socket.find(':');
    const std::string kind = colon == std::string::npos ? "unix" : socket.substr(0, colon);
    const std::string rest = colon == std::string::npos ? socket : socket.substr(colon + 1);
    if (kind == "unix" || kind == "local") {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        if (rest.size() >= sizeof un.sun_path) return;
        std::memcpy(un.sun_path, rest.c_str(), rest.size() + 1);
        std::memcpy(&listen_address, &un, sizeof un);
        listen_address_size = sizeof un;
    } else if (kind == "inet") {
        const std::size_t at = rest.find('@');
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(static_cast<std::uint16_t>(std::stoi(rest.substr(0, at))));
        const std::string host = at == std::string::npos ? "127.0.0.1" : rest.substr(at + 1);
        if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &in.sin_addr) != 1)
            inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);  // a name or INADDR_ANY: loopback reaches it
        if (in.sin_addr.s_addr == htonl(INADDR_ANY)) inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
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
