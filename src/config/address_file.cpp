// address_file.cpp - one address per line, streamed into the compact store.
#include "route_milter/config/address_file.hpp"

#include "route_milter/config/config_digest.hpp"
#include "route_milter/config/config_source.hpp"
#include "route_milter/core/printable.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace route_milter {

void AddressFileReader::feed(std::string_view chunk) {
    while (!chunk.empty()) {
        const std::size_t nl = chunk.find('\n');
        const std::string_view piece = chunk.substr(0, nl);
        if (nl != std::string_view::npos && partial_.empty() && !overlong_) {
            line(piece, piece.size() > max_address_line);  // the whole line is in this chunk: no copy
        } else {
            const std::size_t room = max_address_line - std::min(partial_.size(), max_address_line);
            partial_.append(piece.substr(0, room));
            overlong_ = overlong_ || piece.size() > room;
            if (nl == std::string_view::npos) return;
            line(partial_, overlong_);
            partial_.clear();
            overlong_ = false;
        }
        chunk.remove_prefix(nl + 1);
    }
}

void AddressFileReader::finish() {
    if (!partial_.empty() || overlong_) line(partial_, overlong_);
    partial_.clear();
    overlong_ = false;
    if (unshown_ != 0)
        errors_.push_back({name_, first_unshown_,
                           "and " + std::to_string(unshown_) + " more bad line" + (unshown_ == 1 ? "" : "s") +
                               " from here on, not shown (a file's first " + std::to_string(max_shown_errors) +
                               " are)"});
    unshown_ = 0;
}

namespace {

constexpr std::string_view byte_order_mark = "\xEF\xBB\xBF";  // U+FEFF in UTF-8

// The first word of a line: up to a blank outside "quotes" (a quoted local part may hold one).
std::string_view first_word(std::string_view text) {
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted && c == '\\') ++i;
        else if (c == '"') quoted = !quoted;
        else if (!quoted && (c == ' ' || c == '\t')) return text.substr(0, i);
    }
    return text;
}

}  // namespace

void AddressFileReader::line(std::string_view text, bool overlong) {
    ++line_;
    // A byte-order mark (an editor on Windows) begins the file, not its first address.
    if (line_ == 1 && text.substr(0, byte_order_mark.size()) == byte_order_mark)
        text.remove_prefix(byte_order_mark.size());
    const auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
    while (!text.empty() && blank(text.front())) text.remove_prefix(1);
    while (!text.empty() && blank(text.back())) text.remove_suffix(1);
    if (text.empty() || text.front() == '#') return;
    const auto error = [&](std::string_view what) {
        // Whoever writes the file sees the errors of a reload in the daemon's log: no more of a
        // line than its first word, and no more than a few lines of a file.
        if (errors_.size() >= max_shown_errors) {
            if (unshown_++ == 0) first_unshown_ = line_;
            return;
        }
        const std::string_view word = first_word(text);
        errors_.push_back({name_, line_,
                           std::string(what) + " (\"" + printable(word, max_shown_word) + "\"" +
                               (word.size() < text.size() ? ", then more on the line" : "") + ")"});
    };
    if (overlong) {
        error("line too long (more than " + std::to_string(max_address_line) + " bytes)");
        return;
    }
    if (text.find(byte_order_mark) != std::string_view::npos) {
        error("a byte-order mark (U+FEFF) inside the file: only the file may begin with one");
        return;
    }
    const AddressStatus status = parse_address(text, parsed_);
    if (status != AddressStatus::ok || !parsed_.has_domain() || parsed_.local().empty()) {
        error(status == AddressStatus::ok ? "not local@domain" : describe(status));
        return;
    }
    if (!pattern_.empty() && !pattern_.matches(parsed_.domain())) {
        error("address outside the route's domain " + pattern_.text());
        return;
    }
    listed_.add(parsed_.text(), route_, line_, file_);
    ++count_;
}

namespace {

std::string too_big(unsigned long long size) {
    return "too big (" + std::to_string(size) + " bytes; an address file may hold " +
           std::to_string(max_address_file_bytes) + ")";
}

}  // namespace

std::uint64_t trusted_status(const AddressFileRead& read, std::int64_t settle_ns) {
    return !read.unusable && read.unchanged_ns >= settle_ns ? read.status : 0;
}

namespace {

// Blocks of paths, each taken whole from `next` by one thread, into `out` (each thread writes
// its own run of `out`: no two share a cache line but at a block's edges).
constexpr std::size_t status_block = 256;
void statuses_of(const std::vector<const std::string*>& paths, std::atomic<std::size_t>& next, FileStatuses& out) {
    FileOpener opener;
    for (;;) {
        const std::size_t first = next.fetch_add(status_block, std::memory_order_relaxed);
        if (first >= paths.size()) return;
        const std::size_t end = std::min(paths.size(), first + status_block);
        for (std::size_t i = first; i < end; ++i) {
            struct stat st {};
            if (opener.status(*paths[i], st)) {
                out.status[i] = file_status(st);
                out.mode[i] = st.st_mode;
            }
        }
    }
}

}  // namespace

FileStatuses address_file_statuses(const std::vector<const std::string*>& paths, std::size_t threads) {
    FileStatuses out{std::vector<std::uint64_t>(paths.size(), 0), std::vector<mode_t>(paths.size(), 0)};
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> more;
    std::mutex failed_lock;
    std::exception_ptr failed;
    // The caller's thread and at most one more per block beyond the first.
    const std::size_t blocks = (paths.size() + status_block - 1) / status_block;
    const std::size_t extra = std::min(threads, blocks) > 1 ? std::min(threads, blocks) - 1 : 0;
    if (extra > 0) {
        // Like the readers: no signal for these threads (the daemon's sigwait takes them).
        sigset_t all, was;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &was);
        try {
            while (more.size() < extra)
                more.emplace_back([&] {
                    try {
                        statuses_of(paths, next, out);
                    } catch (...) {
                        const std::lock_guard<std::mutex> hold(failed_lock);
                        failed = std::current_exception();
                    }
                });
        } catch (const std::system_error&) {  // no more threads to be had: the rest here
        }
        pthread_sigmask(SIG_SETMASK, &was, nullptr);
    }
    const auto join = [&] {
        for (std::thread& t : more) t.join();
    };
    try {
        statuses_of(paths, next, out);
    } catch (...) {
        next.store(paths.size());  // the others stop at their next block
        join();
        throw;
    }
    join();
    if (failed) std::rethrow_exception(failed);
    out.threads = 1 + more.size();
    return out;
}

namespace {

// Opens and checks `path` (by `opener`'s rules), then reads it to the end: `to.opened(size)`
// once it is found usable, `to.room(want)` for where each read goes (nullptr: stop reading),
// `to.read(bytes)` with what each read gave. The sha256 is of all of it.
template <typename To>
AddressFileRead read_file(FileOpener& opener, const std::string& path, std::size_t piece, To& to) {
    AddressFileRead out;
    struct stat st {};
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME, &now);  // before the open: any change after it is newer
    auto opened = opener.open(path, st);
    if (auto* why = std::get_if<std::string>(&opened)) {
        out.unusable = std::move(*why);
        return out;
    }
    const Fd fd = std::move(std::get<Fd>(opened));
    out.mode = st.st_mode;
    out.status = file_status(st);
    out.unchanged_ns = unchanged_ns(now, st);
    const auto size = static_cast<std::size_t>(st.st_size);
    if (size > max_address_file_bytes) {
        out.unusable = too_big(size);
        return out;
    }
    to.opened(size);
    Sha256Stream sha256;  // the config digest covers address files too
    std::size_t total = 0;
    for (;;) {
        // One byte past the size: a short read then is the end, with no second read to see it.
        const std::size_t want = total < size ? std::min(piece, size - total + 1) : piece;
        char* const into = to.room(want);
        if (into == nullptr) return out;
        const ssize_t n = ::read(fd.get(), into, want);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            out.unusable = std::string("cannot read the file (") + std::strerror(errno) + ")";
            return out;
        }
        if (n == 0) break;
        total += static_cast<std::size_t>(n);
        if (total > max_address_file_bytes) {
            out.unusable = too_big(total);
            return out;
        }
        const std::string_view chunk(into, static_cast<std::size_t>(n));
        sha256.update(chunk);
        to.read(chunk);
        if (static_cast<std::size_t>(n) < want && total == size) break;
    }
    out.sha256 = sha256.finish();
    return out;
}

// Reading straight into a reader (or nowhere: hashing only) through one reused buffer.
struct Feed {
    AddressFileReader* reader;
    std::vector<char>& buffer;

    void opened(std::size_t size) {
        if (reader != nullptr) reader->expect_bytes(size);
    }
    char* room(std::size_t) { return buffer.data(); }
    void read(std::string_view chunk) {
        if (reader != nullptr) reader->feed(chunk);
    }
};

AddressFileRead feed_file(FileOpener& opener, const std::string& path, AddressFileReader* reader,
                          std::vector<char>& buffer) {
    Feed feed{reader, buffer};
    AddressFileRead out = read_file(opener, path, buffer.size(), feed);
    if (!out.unusable && reader != nullptr) reader->finish();
    return out;
}

}  // namespace

AddressFileRead read_address_file(const std::string& path, AddressFileReader& reader, std::vector<char>& buffer) {
    FileOpener opener;
    return feed_file(opener, path, &reader, buffer);
}

AddressFileRead hash_address_file(const std::string& path, std::vector<char>& buffer) {
    FileOpener opener;
    return feed_file(opener, path, nullptr, buffer);
}

// One read's bytes on their way from the reading thread to the taker, in file order.
struct Piece {
    std::string bytes;
    std::size_t reserved = 0;  // counted against bytes_ahead until taken
    bool opened = false;       // the file's first piece once it is found usable
    std::size_t size = 0;      // then its size
    bool last = false;         // the file's last piece, carrying its end
    AddressFileRead end;
};

struct AddressFileQueue::Shared {
    std::vector<const std::string*> paths;
    Limits limits;
    std::size_t next = 0;  // the file the next take gives
    FileOpener opener;     // the taker's, without a thread
    std::vector<char> buffer;

    // Either side sleeps only when it has to, and is woken with room for many files, not one:
    // a wake-up per file (two context switches) costs about what reading the file does.
    std::mutex mutex;
    std::condition_variable put;    // pieces queued (a batch), the thread waiting, or done
    std::condition_variable taken;  // room down to half the limits, or stop
    std::deque<Piece> pieces;
    std::size_t bytes = 0;    // reserved by pieces queued or being read
    std::size_t files = 0;    // begun by the thread, not yet taken whole
    std::size_t wanted = 0;   // what the waiting thread wants room for (0: a file)
    bool waiting = false;     // the thread waits for room
    bool taker_waits = false;
    bool stop = false;
    bool done = false;
    std::exception_ptr failed;
    std::thread thread;

    static constexpr std::size_t batch = 16;  // pieces queued before a waiting taker is woken

    // The thread's side of one file: it reads into a piece of its own, queued once full.
    struct Ahead {
        Shared& shared;
        Piece piece;
        bool filled = false;
        bool stopped = false;

        void opened(std::size_t size) {
            piece.opened = true;
            piece.size = size;
        }
        char* room(std::size_t want) {
            if (filled) shared.queue(std::move(piece));
            piece = Piece{};
            filled = false;
            if (!shared.wait_for_room(want)) {
                stopped = true;
                return nullptr;
            }
            piece.reserved = want;
            piece.bytes.resize(want);
            return piece.bytes.data();
        }
        void read(std::string_view chunk) {
            piece.bytes.resize(chunk.size());
            filled = true;
        }
        void finish(AddressFileRead end) {
            if (!filled) piece.bytes.clear();
            piece.last = true;
            piece.end = std::move(end);
            shared.queue(std::move(piece));
        }
    };

    // Room for `want` bytes (0: for one more file) within the limits; `resume` asks for half
    // the limits free, the point from which a waiting thread goes on.
    bool room_for(std::size_t want, bool resume) const {
        if (want == 0) return files < limits.files_ahead && (!resume || files <= limits.files_ahead / 2);
        return bytes == 0 || (bytes + want <= limits.bytes_ahead && (!resume || bytes <= limits.bytes_ahead / 2));
    }

    // Waits for room for `want` (as room_for) and takes it; false on stop.
    bool wait_for_room(std::size_t want) {
        std::unique_lock lock(mutex);
        if (!stop && !room_for(want, false)) {
            waiting = true;
            wanted = want;
            taker_waits = false;
            put.notify_one();  // the taker has all there is; settle() sees the thread stopped
            taken.wait(lock, [&] { return stop || room_for(want, true); });
            waiting = false;
        }
        if (stop) return false;
        if (want == 0) ++files;
        else bytes += want;
        return true;
    }

    void queue(Piece&& done) {
        std::unique_lock lock(mutex);
        pieces.push_back(std::move(done));
        if (taker_waits && (pieces.size() >= batch || bytes > limits.bytes_ahead / 2)) {
            taker_waits = false;
            lock.unlock();
            put.notify_one();
        }
    }

    void read_ahead() {
        try {
            FileOpener opener;
            for (const std::string* const path_of : paths) {
                const std::string& path = *path_of;
                if (!wait_for_room(0)) break;
                if (limits.before_file != nullptr) limits.before_file(path);
                Ahead ahead{*this, {}};
                AddressFileRead end = read_file(opener, path, limits.piece, ahead);
                if (ahead.stopped) break;
                ahead.finish(std::move(end));
            }
        } catch (...) {
            const std::lock_guard lock(mutex);
            failed = std::current_exception();
        }
        {
            const std::lock_guard lock(mutex);
            done = true;
        }
        put.notify_one();
    }

    Piece next_piece() {
        std::unique_lock lock(mutex);
        if (pieces.empty() && !done) {
            taker_waits = true;
            put.wait(lock, [&] { return !pieces.empty() || done; });
            taker_waits = false;
        }
        if (pieces.empty()) {
            if (failed) std::rethrow_exception(failed);
            throw std::logic_error("address file queue: the reading thread ended early");
        }
        Piece piece = std::move(pieces.front());
        pieces.pop_front();
        bytes -= piece.reserved;
        if (piece.last) --files;
        if (waiting && room_for(wanted, true)) {
            waiting = false;  // settle() waits for the thread to stop again
            lock.unlock();
            taken.notify_one();
        }
        return piece;
    }
};

AddressFileQueue::AddressFileQueue(std::vector<std::string> paths) : AddressFileQueue(std::move(paths), Limits{}) {}

AddressFileQueue::AddressFileQueue(std::vector<std::string> paths, Limits limits) : owned_(std::move(paths)) {
    std::vector<const std::string*> of;
    of.reserve(owned_.size());
    for (const std::string& path : owned_) of.push_back(&path);
    start(std::move(of), limits);
}

AddressFileQueue::AddressFileQueue(std::vector<const std::string*> paths)
    : AddressFileQueue(std::move(paths), Limits{}) {}

AddressFileQueue::AddressFileQueue(std::vector<const std::string*> paths, Limits limits) {
    start(std::move(paths), limits);
}

void AddressFileQueue::start(std::vector<const std::string*> paths, Limits limits) {
    total_ = paths.size();
    limits.files_ahead = std::max<std::size_t>(limits.files_ahead, 1);
    limits.piece = std::max<std::size_t>(limits.piece, 1);
    if (paths.empty() || paths.size() < limits.threaded_from) {
        auto& s = *lanes_.emplace_back(std::make_unique<Shared>());
        s.paths = std::move(paths);
        s.limits = limits;
        s.buffer.resize(std::size_t{1} << 16);
        return;
    }
    // Lane k reads files k, k + n, k + 2n, ... within its share of the limits; take() goes
    // round the lanes, so the files still come in the order given.
    const std::size_t n = std::clamp<std::size_t>(limits.readers, 1, paths.size());
    for (std::size_t k = 0; k < n; ++k) {
        auto& s = *lanes_.emplace_back(std::make_unique<Shared>());
        s.limits = limits;
        s.limits.bytes_ahead = std::max<std::size_t>(limits.bytes_ahead / n, 1);
        s.limits.files_ahead = std::max<std::size_t>(limits.files_ahead / n, 1);
        s.paths.reserve(paths.size() / n + 1);
        for (std::size_t i = k; i < paths.size(); i += n) s.paths.push_back(paths[i]);
    }
    // The readers take no signal: the daemon waits for its own with sigwait on another thread.
    sigset_t all, was;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &was);
    for (auto& lane : lanes_) {
        Shared& s = *lane;
        try {
            s.thread = std::thread([&s] { s.read_ahead(); });
        } catch (const std::system_error&) {  // no thread to be had: read each file when taken
            s.buffer.resize(std::size_t{1} << 16);
        }
    }
    pthread_sigmask(SIG_SETMASK, &was, nullptr);
}

AddressFileQueue::~AddressFileQueue() {
    for (auto& lane : lanes_) {
        Shared& s = *lane;
        if (!s.thread.joinable()) continue;
        {
            const std::lock_guard lock(s.mutex);
            s.stop = true;
        }
        s.taken.notify_one();
    }
    for (auto& lane : lanes_)
        if (lane->thread.joinable()) lane->thread.join();
}

bool AddressFileQueue::threaded() const {
    return std::any_of(lanes_.begin(), lanes_.end(), [](const auto& s) { return s->thread.joinable(); });
}

AddressFileQueue::Ahead AddressFileQueue::settle() {
    Ahead ahead;
    for (auto& lane : lanes_) {
        Shared& s = *lane;
        if (!s.thread.joinable()) continue;
        std::unique_lock lock(s.mutex);
        s.put.wait(lock, [&] { return s.waiting || s.done; });
        ahead.bytes += s.bytes;
        ahead.files += s.files;
    }
    return ahead;
}

AddressFileRead AddressFileQueue::take(AddressFileReader* reader) {
    if (next_ >= total_) throw std::logic_error("address file queue: every file was taken");
    Shared& s = *lanes_[next_ % lanes_.size()];
    ++next_;
    if (!s.thread.joinable()) return feed_file(s.opener, *s.paths[s.next++], reader, s.buffer);
    for (;;) {
        Piece piece = s.next_piece();
        if (piece.opened && reader != nullptr) reader->expect_bytes(piece.size);
        if (!piece.bytes.empty() && reader != nullptr) reader->feed(piece.bytes);
        if (piece.last) {
            ++s.next;
            if (!piece.end.unusable && reader != nullptr) reader->finish();
            return std::move(piece.end);
        }
    }
}

AddressFileRead read_address_file(AddressFileQueue& files, AddressFileReader& reader) { return files.take(&reader); }

AddressFileRead hash_address_file(AddressFileQueue& files) { return files.take(nullptr); }

}  // namespace route_milter
