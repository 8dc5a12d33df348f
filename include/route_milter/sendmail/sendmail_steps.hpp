// sendmail_steps.hpp - the commands that put the files of `routectl sendmail` into service. No I/O.
//
// NAME
//   render_sendmail_steps - what to run after the files are written, as a /bin/sh script.
// SYNOPSIS
//   SendmailSteps s{"/etc/mail/route-milter", &maps.files, "/etc/mail/sendmail.cf"};
//   s.pid_file = sendmail_pid_file(text_of_sendmail_cf);
//   std::fputs(render_sendmail_steps(s).c_str(), stdout);
// DESCRIPTION
//   In order: the queue group directories still missing (install -d -m 0700); makemap for each
//   map, in the order of `files` (umask 077 and chmod for a private one), unless routectl compiled
//   them; the include line sendmail.mc needs once (a comment: the admin adds it where it belongs);
//   sendmail.cf rebuilt with m4 into a temporary file renamed over it; the daemon sent SIGHUP
//   through its PidFile, so that Sendmail executes itself again and reads the new sendmail.cf.
//   Every line that is not a comment is a command; a path is quoted for the shell where it needs it.
// DIAGNOSTICS
//   None: without a pid file (sendmail.cf unreadable, or no absolute PidFile) the last step is a
//   comment saying to restart sendmail, and why.
#pragma once

#include "route_milter/core/rendered_file.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace route_milter {

struct SendmailSteps {
    std::string output_dir;                           // absolute: where the files were written
    const std::vector<RenderedFile>* files = nullptr;  // what was written there
    std::string sendmail_config;                      // sendmail.cf, rebuilt from the sendmail.mc beside it
    std::string makemap_config;                       // makemap's -C (empty: makemap's own default)
    bool maps_compiled = false;                       // routectl ran makemap itself (--makemap)
    std::string pid_file;                             // Sendmail's PidFile; empty: not known
    std::vector<std::string> missing_directories;     // queue group directories that do not exist
};

std::string render_sendmail_steps(const SendmailSteps& steps);

// The sendmail.mc that sendmail.cf is built from: the same name with ".mc" for ".cf", beside it.
std::string sendmail_mc_of(const std::string& sendmail_cf);

// The daemon's pid file named by a sendmail.cf ("O PidFile=/path"), or "" when it names none
// that is an absolute path without macros ('$').
std::string sendmail_pid_file(std::string_view sendmail_cf_text);

// `word` as one /bin/sh word: as it is when it holds nothing the shell treats specially, else
// in single quotes.
std::string shell_word(std::string_view word);

}  // namespace route_milter
