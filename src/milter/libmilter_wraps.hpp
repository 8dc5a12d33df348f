// libmilter_wraps.hpp - hooks into the statically linked libmilter (ld --wrap).
//
// read():    libmilter reads each MTA packet itself; on a TCP socket the kernel's delayed ACK
//            then holds the MTA's next small write (~40 ms). After each read we set
//            TCP_QUICKACK on the socket, which keeps inet sockets near unix-socket speed.
// sigwait(): libmilter's signal thread stops the milter on SIGHUP; we make SIGHUP call the
//            reload hook instead (in that thread, outside every callback) and wait again.
#pragma once

namespace route_milter {

void enable_tcp_quickack(bool on);
void set_sighup_handler(void (*handler)());

}  // namespace route_milter
