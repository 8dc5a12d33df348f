#include "route_milter/sendmail/sendmail_steps.hpp"

#include "route_milter/sendmail/sendmail_maps.hpp"

#include <algorithm>

namespace route_milter {

std::string shell_word(std::string_view word) {
    static constexpr std::string_view plain = "/._+-=@%:,";
    const bool as_is = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               plain.find(c) != std::string_view::npos;
    });
    if (as_is) return std::string(word);
    std::string out = "'";
    for (const char c : word) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

std::string sendmail_mc_of(const std::string& sendmail_cf) {
    const std::size_t slash = sendmail_cf.rfind('/');
    const std::size_t name = slash == std::string::npos ? 0 : slash + 1;
    if (sendmail_cf.size() > name + 3 && sendmail_cf.compare(sendmail_cf.size() - 3, 3, ".cf") == 0)
        return sendmail_cf.substr(0, sendmail_cf.size() - 3) + ".mc";
    return sendmail_cf.substr(0, name) + "sendmail.mc";
}

std::string sendmail_pid_file(std::string_view text) {
    static constexpr std::string_view option = "O PidFile=";
    std::string found;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        if (line.substr(0, option.size()) != option) continue;
        line.remove_prefix(option.size());
        while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
        // Sendmail takes the last setting of an option.
        found = !line.empty() && line.front() == '/' && line.find('$') == std::string_view::npos ? std::string(line) : "";
    }
    return found;
}

std::string render_sendmail_steps(const SendmailSteps& s) {
    const std::string dir = s.output_dir;
    std::string out = "# next, as root: put these files into service (a /bin/sh script; lines with # are notes)\n";
    for (const std::string& d : s.missing_directories) out += "install -d -m 0700 " + shell_word(d) + "\n";
    if (s.maps_compiled) {
        out += "# the .db files are up to date (compiled by routectl)\n";
    } else if (s.files != nullptr) {
        const std::string config = s.makemap_config.empty() ? "" : "-C " + shell_word(s.makemap_config) + " ";
        for (const RenderedFile& f : *s.files) {
            if (!f.compile_map) continue;
            const std::string path = shell_word(dir + "/" + f.name);
            const std::string makemap = "makemap " + config + "hash " + path + " < " + path;
            // makemap keeps the mode of an existing .db: a private map's is set as well.
            if ((f.mode & 077) == 0) out += "(umask 077 && " + makemap + " && chmod 0600 " + shell_word(dir + "/" + f.name + ".db") + ")\n";
            else out += makemap + "\n";
        }
    }
    const std::string cf = shell_word(s.sendmail_config);
    const std::string next_cf = shell_word(s.sendmail_config + ".new");
    const std::string mc = sendmail_mc_of(s.sendmail_config);
    out += "# once, by hand: this line in " + one_line(mc) +
           ", before its first MAILER() line, and no FEATURE line of its own for mailertable, "
           "access_db or authinfo:\n"
           "#   include(`" + dir + "/" + sendmail_mc_snippet + "')dnl\n";
    out += "m4 " + shell_word(mc) + " > " + next_cf + " && mv " + next_cf + " " + cf + "\n";
    if (s.pid_file.empty())
        out += "# restart sendmail (e.g. systemctl restart sendmail): " + one_line(s.sendmail_config) +
               " names no PidFile to signal, or cannot be read\n";
    else
        out += "kill -HUP \"$(head -n 1 " + shell_word(s.pid_file) + ")\"\n";
    return out;
}

}  // namespace route_milter
