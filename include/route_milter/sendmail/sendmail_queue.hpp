// sendmail_queue.hpp - reads Sendmail's mail queue into a snapshot for the retry planner.
//
// Sendmail keeps one control file per message, qf<ID>, in its queue directory or in the
// directory of the message's queue group (with a qf/ subdirectory when the queue is split).
// scan_sendmail_queue finds the directories (sendmail_queue_directories, from sendmail.cf),
// reads the files and hands each to parse_sendmail_qf; the parsers do no I/O. `mailq` is not
// used: it shows arrival times only to the minute, and the planner identifies a message by its
// queue id and exact arrival time.
//
// A message counts as "deferred" once Sendmail has tried it (N, the number of attempts, is at
// least 1); before that it is "incoming". Only undelivered recipients are in a qf file.
#pragma once

#include "route_milter/core/mail_queue.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

struct SendmailQueueDirectory {
    std::string group;  // "mqueue" for the default queue group, else the Q line's name
    std::string path;   // may end in '*': every directory whose name starts with the rest
};

// QueueDirectory (O QueueDirectory=, default /var/spool/mqueue) and the P= of every queue
// group (Q lines) of a sendmail.cf; each directory once, in file order.
std::vector<SendmailQueueDirectory> sendmail_queue_directories(std::string_view sendmail_cf);

struct QfParseResult {
    std::optional<QueuedMessage> message;
    std::string error;  // why the file could not be read (then message is empty)
};

// One qf file; queue_id is the file name without "qf".
QfParseResult parse_sendmail_qf(std::string_view text, std::string_view queue_id);

// True for a file name Sendmail uses for a message's control file ("qf" + a queue id).
bool is_sendmail_qf_name(std::string_view file_name);

struct SendmailQueueScan {
    QueueSnapshot messages;             // by arrival time, then queue id
    std::vector<std::string> warnings;  // files skipped: unreadable or not a valid qf file
    std::string error;                  // set: sendmail.cf or a queue directory could not be read
};

// The queue of the sendmail.cf at `sendmail_cf_path`: every qf file in every directory it names
// (a "/var/spool/mqueue/q*" setting: each such directory; a split queue: its qf/ subdirectory).
// A file gone since the directory was read (delivered meanwhile) is skipped without a warning.
// DIAGNOSTICS: error names the path and errno; warnings name the file and why.
SendmailQueueScan scan_sendmail_queue(const std::string& sendmail_cf_path);

}  // namespace route_milter
