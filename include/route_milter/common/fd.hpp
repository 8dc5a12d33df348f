// fd.hpp - a file descriptor that closes itself.
#pragma once

#include <utility>

namespace route_milter {

class Fd {
public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Fd& operator=(Fd&& other) noexcept;
    ~Fd();
    int get() const { return fd_; }

private:
    int fd_;
};

}  // namespace route_milter
