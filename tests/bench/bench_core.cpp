// bench_core - decisions per second, config load time and peak RSS for a large config.
//
//   bench-core generate FILE ROUTES ADDRESSES_PER_ROUTE [files]
//                                                         write a config (files: each route's
//                                                         addresses in an addresses_file, in FILE.d/)
//   bench-core load FILE                                  load+compile once, print time and peak RSS
//   bench-core reload FILE [ROUNDS]                       reloads of the unchanged FILE: median time
//   bench-core decide FILE [ROUNDS]                       decisions/s on one thread (median of ROUNDS)
//   bench-core read-files DIR [WAY]                       the floor under loading address files:
//                                                         open, fstat, read and close every file in
//                                                         DIR, nothing parsed or kept (WAY: below)
//
// Load runs in a process of its own so its peak RSS is the config's alone.
#include "route_milter/core/policy.hpp"
#include "route_milter/config/load_policy.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

using namespace route_milter;
using Clock = std::chrono::steady_clock;

namespace {

int generate(const char* path, long routes, long per_route, bool files) {
    const std::string dir = std::string(path) + ".d";
    const std::string dir_name = dir.substr(dir.rfind('/') + 1);
    if (files) mkdir(dir.c_str(), 0755);
    std::ofstream out(path);
    out << "scope = \"all\";\nlocal_domains = [ \"local.example\" ];\nroutes = (\n";
    for (long r = 0; r < routes; ++r) {
        const std::string domain = "d" + std::to_string(r) + ".example.com";
        out << "  { domain = \"" << domain << "\"; treat_recipient_as = \"local\"; deliver_to = \"listed\";\n";
        if (files) {
            std::ofstream list(dir + "/" + domain);
            for (long a = 0; a < per_route; ++a) list << "user" << a << "@" << domain << "\n";
            if (!list) return 1;
            out << "    addresses_file = \"" << dir_name << "/" << domain << "\";";
        } else {
            out << "    addresses = [ ";
            for (long a = 0; a < per_route; ++a) out << (a ? ", " : "") << "\"user" << a << "@" << domain << "\"";
            out << " ];";
        }
        out << " }" << (r + 1 < routes ? ",\n" : "\n");
    }
    out << ");\n";
    out.close();
    chmod(path, 0600);
    return out ? 0 : 1;
}

std::shared_ptr<const Policy> load(const char* path) {
    PolicyResult r = load_policy_file(path);
    if (!r.policy) {
        for (const auto& d : r.errors) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
        std::exit(78);
    }
    return r.policy;
}

int load_once(const char* path) {
    const auto t0 = Clock::now();
    const auto policy = load(path);
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    long pages = 0, resident = 0;
    if (FILE* statm = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(statm, "%ld %ld", &pages, &resident) != 2) resident = 0;
        std::fclose(statm);
    }
    std::printf("load: %.2f s, peak RSS %.0f MB, RSS after %.0f MB (%zu routes, %zu listed addresses)\n", seconds,
                usage.ru_maxrss / 1024.0, static_cast<double>(resident) * 4096 / 1048576,
                static_cast<std::size_t>(policy->route_count()), policy->listed_address_count());
    return 0;
}

// A reload of an unchanged config, as SIGHUP makes one: `rounds` times against the running
// policy, each new one replacing it; the median time.
int reload(const char* path, int rounds) {
    std::shared_ptr<const Policy> running = load(path);
    std::vector<double> seconds;
    for (int i = 0; i < rounds; ++i) {
        const auto t0 = Clock::now();
        PolicyResult r = load_policy_file(path, UserCheck::skip);
        if (!r.policy) {
            for (const auto& d : r.errors) std::fprintf(stderr, "%s\n", format_diagnostic(d).c_str());
            return 78;
        }
        running = std::move(r.policy);
        seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::sort(seconds.begin(), seconds.end());
    std::printf("reload (unchanged): median %.3f s, min %.3f s, max %.3f s over %d\n", seconds[seconds.size() / 2],
                seconds.front(), seconds.back(), rounds);
    return 0;
}

int decide(const char* path, int rounds) {
    const auto policy = load(path);
    const long routes = static_cast<long>(policy->route_count());
    // A realistic mix: listed hits, unlisted misses, unknown domains, a local domain.
    std::vector<std::string> recipients;
    std::uint64_t seed = 88172645463325252ULL;
    const auto next = [&] { seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17; return seed; };
    for (int i = 0; i < 4096; ++i) {
        const long r = static_cast<long>(next() % static_cast<std::uint64_t>(routes));
        switch (i % 4) {
        case 0:
        case 1: recipients.push_back("<user" + std::to_string(next() % 10) + "@d" + std::to_string(r) + ".example.com>"); break;
        case 2: recipients.push_back("<nobody" + std::to_string(i) + "@D" + std::to_string(r) + ".Example.com>"); break;
        default: recipients.push_back(i % 8 == 3 ? "<x@local.example>" : "<x@unrouted" + std::to_string(i) + ".test>");
        }
    }
    NormalizedAddress sender, rcpt;
    parse_address("<someone@far.example>", sender);
    const MessageFacts facts = policy->message_facts(parse_ip_address("203.0.113.7"), false, false, &sender, 0);

    const auto measure = [&](auto&& one) {
        std::vector<double> rates;
        for (int round = 0; round < rounds; ++round) {
            const long n = 2'000'000;
            unsigned sink = 0;
            const auto t0 = Clock::now();
            for (long i = 0; i < n; ++i) sink += static_cast<unsigned>(one(recipients[static_cast<std::size_t>(i) & 4095]).rule);
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            rates.push_back(static_cast<double>(n) / s);
            if (sink == 0xdeadbeef) std::puts("");  // keep the loop
        }
        std::sort(rates.begin(), rates.end());
        return std::make_pair(rates[rates.size() / 2], std::make_pair(rates.front(), rates.back()));
    };
    const auto staged = measure([&](const std::string& r) {
        parse_address(r, rcpt);
        return policy->decide_recipient(facts, rcpt);
    });
    const auto whole = measure([&](const std::string& r) {
        return policy->decide(Query{parse_ip_address("203.0.113.7"), false, "<someone@far.example>", r});
    });
    std::printf("decide, RCPT path (parse recipient + decide_recipient, as the milter does): median %.2f M/s "
                "(min %.2f, max %.2f, %d rounds)\n",
                staged.first / 1e6, staged.second.first / 1e6, staged.second.second / 1e6, rounds);
    std::printf("decide, whole query (parse client IP, sender and recipient + decide): median %.2f M/s "
                "(min %.2f, max %.2f)\n",
                whole.first / 1e6, whole.second.first / 1e6, whole.second.second / 1e6);
    return 0;
}

// What the kernel alone costs for a config of many address files: the system calls the loader
// makes per file, no parsing, nothing kept. WAY picks the calls, to weigh each against the others:
//   path    stat, open and fstat by the whole path, read to a 0-byte read, close (the loader
//           before prefetching)
//   openat  fstatat and openat relative to the directory's descriptor, fstat, one read when the
//           file fits the buffer, close (the loader's calls now)
//   nostat  as openat without the fstatat before the open (opens what it then refuses)
int read_files(const char* dir_path, const std::string& way) {
    DIR* dir = ::opendir(dir_path);
    if (dir == nullptr) {
        std::perror(dir_path);
        return 1;
    }
    std::vector<std::string> names;
    while (const dirent* e = ::readdir(dir))
        if (e->d_name[0] != '.') names.push_back(e->d_name);
    ::closedir(dir);
    if (way != "path" && way != "openat" && way != "nostat") {
        std::fprintf(stderr, "read-files: WAY is path, openat or nostat\n");
        return 64;
    }
    std::vector<char> buffer(1 << 16);
    std::size_t bytes = 0;
    const auto start = Clock::now();
    const int dir_fd = ::open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (const std::string& name : names) {
        struct stat st {};
        int fd = -1;
        if (way == "path") {
            const std::string path = std::string(dir_path) + "/" + name;
            if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            fd = ::open(path.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        } else {
            if (way == "openat" && (::fstatat(dir_fd, name.c_str(), &st, 0) != 0 || !S_ISREG(st.st_mode))) continue;
            fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        }
        if (fd < 0) continue;
        ::fstat(fd, &st);
        std::size_t got = 0;
        for (ssize_t n; (n = ::read(fd, buffer.data(), buffer.size())) > 0;) {
            bytes += static_cast<std::size_t>(n);
            got += static_cast<std::size_t>(n);
            if (way != "path" && static_cast<std::size_t>(n) < buffer.size() && got == static_cast<std::size_t>(st.st_size))
                break;  // a short read that reached the size: the end, without a 0-byte read
        }
        ::close(fd);
    }
    ::close(dir_fd);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("read-files %s: %.2f s to open, read and close %zu files (%zu bytes), nothing parsed\n", way.c_str(),
                seconds, names.size(), bytes);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "generate" && (argc == 5 || (argc == 6 && std::string(argv[5]) == "files")))
        return generate(argv[2], std::atol(argv[3]), std::atol(argv[4]), argc == 6);
    if (mode == "load" && argc == 3) return load_once(argv[2]);
    if (mode == "decide" && argc >= 3) return decide(argv[2], argc > 3 ? std::atoi(argv[3]) : 7);
    if (mode == "reload" && argc >= 3) return reload(argv[2], argc > 3 ? std::atoi(argv[3]) : 5);
    if (mode == "read-files" && (argc == 3 || argc == 4)) return read_files(argv[2], argc == 4 ? argv[3] : "openat");
    std::fprintf(stderr, "usage: bench-core generate FILE ROUTES PER_ROUTE [files] | load FILE | reload FILE [ROUNDS] | decide FILE [ROUNDS] | "
                         "read-files DIR [path|openat|nostat]\n");
    return 64;
}
