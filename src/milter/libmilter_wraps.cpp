#include "libmilter_wraps.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>

namespace route_milter {
namespace {
std::atomic<bool> quickack{false};
std::atomic<void (*)()> sighup_handler{nullptr};
}  // namespace

void enable_tcp_quickack(bool on) { quickack.store(on, std::memory_order_relaxed); }
void set_sighup_handler(void (*handler)()) { sighup_handler.store(handler); }

}  // namespace route_milter

extern "C" {
ssize_t __real_read(int fd, void* buffer, size_t size);
int __real_sigwait(const sigset_t* set, int* signal_number);

ssize_t __wrap_read(int fd, void* buffer, size_t size) {
    const ssize_t n = __real_read(fd, buffer, size);
    if (n > 0 && route_milter::quickack.load(std::memory_order_relaxed)) {
        const int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
    }
    return n;
}

int __wrap_sigwait(const sigset_t* set, int* signal_number) {
    for (;;) {
        const int rc = __real_sigwait(set, signal_number);
        void (*handler)() = route_milter::sighup_handler.load();
        if (rc != 0 || *signal_number != SIGHUP || handler == nullptr) return rc;
        handler();
    }
}
}
