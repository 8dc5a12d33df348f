// libmilter_wraps.hpp - hooks into the statically linked libmilter (ld --wrap).
//
// read():    libmilter reads each MTA packet itself; on a TCP socket the kernel's delayed ACK
//            then holds the MTA's next small write (~40 ms, the MTA's Nagle waiting for our
//            ACK). After each read we set TCP_QUICKACK on the socket again, which keeps inet
//            sockets free of those stalls.
// sigwait(): libmilter's signal thread stops the milter on SIGHUP; we make SIGHUP call the
//            reload hook instead (in that thread, outside every callback) and wait again.
//            On SIGTERM/SIGINT libmilter stops, but its listener only notices when its poll()
//            times out (seconds); a connection to our own socket wakes it at once.
#pragma once

#include "route_milter/core/milter_socket.hpp"

namespace route_milter {

void enable_tcp_quickack(bool on);
void quickack_after_io(int fd);
void set_sighup_handler(void (*handler)());
void set_listen_address(const MilterSocket& socket);

}  // namespace route_milter
