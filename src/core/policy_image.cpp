#include "route_milter/core/policy_image.hpp"

#include <cstring>

namespace route_milter::image {

namespace {

class Writer {
public:
    explicit Writer(std::string& out) : out_(out) {}
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void u16(std::uint16_t v) { put(v, 2); }
    void u32(std::uint32_t v) { put(v, 4); }
    void u64(std::uint64_t v) { put(v, 8); }
    void i64(std::int64_t v) { put(static_cast<std::uint64_t>(v), 8); }
    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }

private:
    void put(std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    std::string& out_;
};

// Reads what Writer wrote; past the end, or a value out of range, it fails and stays failed.
class Reader {
public:
    explicit Reader(Bytes bytes) : bytes_(bytes) {}
    bool ok() const { return ok_; }
    bool at_end() const { return pos_ == bytes_.size(); }
    std::uint8_t u8() { return static_cast<std::uint8_t>(get(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(get(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(get(4)); }
    std::uint64_t u64() { return get(8); }
    std::int64_t i64() { return static_cast<std::int64_t>(get(8)); }
    std::string str() { return std::string(view()); }
    std::string_view view() {
        const std::uint32_t n = u32();
        if (!ok_ || n > bytes_.size() - pos_) return fail(), std::string_view();
        std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
        pos_ += n;
        return s;
    }
    std::size_t position() const { return pos_; }
    // A count of items of at least `item_bytes` each: more than the rest could hold fails.
    std::uint32_t count(std::size_t item_bytes) {
        const std::uint32_t n = u32();
        if (ok_ && static_cast<std::uint64_t>(n) * item_bytes > bytes_.size() - pos_) fail();
        return ok_ ? n : 0;
    }
    template <typename Enum>
    Enum code(std::uint8_t limit) {
        const std::uint8_t v = u8();
        if (v >= limit) fail();
        return ok_ ? static_cast<Enum>(v) : Enum{};
    }
    void fail() { ok_ = false; }

private:
    std::uint64_t get(int n) {
        if (!ok_ || static_cast<std::size_t>(n) > bytes_.size() - pos_) return fail(), 0;
        std::uint64_t v = 0;
        for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(bytes_[pos_ + i]) << (8 * i);
        pos_ += n;
        return v;
    }
    Bytes bytes_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

constexpr std::size_t source_bytes_at_least = 4 + 8 * 5 + 4 * 3 + 1;

// One source as encode_header wrote it; the path refers to the reader's bytes.
std::string_view get_source(Reader& r, SourceFile& f);

void put_section(Writer& w, const Section& s) {
    w.u64(s.length);
    w.u64(s.checksum);
}
Section get_section(Reader& r) {
    Section s;
    s.length = r.u64();
    s.checksum = r.u64();
    return s;
}

void put_ip(Writer& w, const IpAddress& a) {
    w.u8(static_cast<std::uint8_t>(a.family));
    w.u64(a.high);
    w.u64(a.low);
}
IpAddress get_ip(Reader& r) {
    IpAddress a;
    a.family = r.code<IpFamily>(2);
    a.high = r.u64();
    a.low = r.u64();
    return a;
}

constexpr std::uint8_t no_mode = 0xff;

}  // namespace

std::uint64_t checksum(Bytes bytes) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char b : bytes) h = (h ^ b) * 0x100000001b3ull;
    return h;
}

std::string encode_header(const Header& h) {
    std::string out;
    Writer w(out);
    out.append(magic);
    w.u32(h.version);
    w.str(h.config_path);
    w.str(h.digest);
    w.u32(static_cast<std::uint32_t>(h.sources.size()));
    for (const Source& s : h.sources) {
        w.str(s.path);
        const SourceFile& f = s.file;
        w.u64(f.device);
        w.u64(f.inode);
        w.u64(f.size);
        w.i64(f.mtime_ns);
        w.i64(f.ctime_ns);
        w.u32(f.mode);
        w.u32(f.uid);
        w.u32(f.gid);
        w.u8(f.settled ? 1 : 0);
    }
    w.u32(h.route_count);
    w.u64(h.listed_count);
    put_section(w, h.settings);
    put_section(w, h.routes);
    put_section(w, h.patterns);
    w.u64(checksum(Bytes(reinterpret_cast<const unsigned char*>(out.data()), out.size())));
    return out;
}

std::optional<Header> decode_header(Bytes bytes, std::string& why) {
    if (bytes.size() < magic.size() || std::memcmp(bytes.data(), magic.data(), magic.size()) != 0) {
        why = "not a route-milter policy image";
        return std::nullopt;
    }
    // Its last 8 bytes: the checksum of all before them.
    if (bytes.size() < magic.size() + 8) {
        why = "damaged header";
        return std::nullopt;
    }
    Reader sum(bytes.subspan(bytes.size() - 8));
    if (sum.u64() != checksum(bytes.first(bytes.size() - 8))) {
        why = "damaged header";
        return std::nullopt;
    }
    bytes = bytes.first(bytes.size() - 8);
    Reader r(bytes.subspan(magic.size()));
    Header h;
    h.version = r.u32();
    if (r.ok() && h.version != format_version) {
        why = "image format " + std::to_string(h.version) + ", this build reads format " + std::to_string(format_version);
        return std::nullopt;
    }
    h.config_path = r.str();
    h.digest = r.str();
    h.source_count = r.count(source_bytes_at_least);
    const std::size_t first = magic.size() + r.position();
    for (std::uint32_t i = 0; i < h.source_count && r.ok(); ++i) {
        SourceFile ignored;
        get_source(r, ignored);
    }
    if (r.ok()) h.sources_record = bytes.subspan(first, magic.size() + r.position() - first);
    h.route_count = r.u32();
    h.listed_count = r.u64();
    h.settings = get_section(r);
    h.routes = get_section(r);
    h.patterns = get_section(r);
    if (!r.ok() || !r.at_end()) {
        why = "damaged header";
        return std::nullopt;
    }
    return h;
}

namespace {
std::string_view get_source(Reader& r, SourceFile& f) {
    const std::string_view path = r.view();
    f.device = r.u64();
    f.inode = r.u64();
    f.size = r.u64();
    f.mtime_ns = r.i64();
    f.ctime_ns = r.i64();
    f.mode = r.u32();
    f.uid = r.u32();
    f.gid = r.u32();
    f.settled = r.code<std::uint8_t>(2) == 1;
    return path;
}
}  // namespace

void for_each_source(const Header& header, const std::function<bool(std::string_view, const SourceFile&)>& visit) {
    Reader r(header.sources_record);
    for (std::uint32_t i = 0; i < header.source_count && r.ok(); ++i) {
        SourceFile f;
        const std::string_view path = get_source(r, f);
        if (!r.ok() || !visit(path, f)) return;
    }
}

std::string encode_settings(const Config& c) {
    std::string out;
    Writer w(out);
    w.str(c.file);
    w.str(c.digest);
    const std::uint32_t config_files = std::min<std::uint32_t>(c.config_file_count, static_cast<std::uint32_t>(c.files.size()));
    w.u32(config_files);
    for (std::uint32_t i = 0; i < config_files; ++i) w.str(c.files[i]);
    w.str(c.milter.socket.text());
    w.str(c.milter.user);
    w.u32(c.milter.user_line);
    w.u32(c.milter.user_file);
    w.u32(static_cast<std::uint32_t>(c.milter.timeout));
    w.u8(c.milter.log_accepted ? 1 : 0);
    w.u8(c.metrics ? 1 : 0);
    if (c.metrics) {
        w.str(c.metrics->listen.text());
        w.u32(static_cast<std::uint32_t>(c.metrics->max_connections));
        w.u32(static_cast<std::uint32_t>(c.metrics->timeout));
        w.u32(c.metrics->line);
        w.u32(c.metrics->file);
    }
    w.u8(static_cast<std::uint8_t>(c.scope));
    w.u8(static_cast<std::uint8_t>(c.mode));
    w.u8(c.ip_ranges_are_defaults ? 1 : 0);
    w.u32(static_cast<std::uint32_t>(c.local_domains.size()));
    for (const std::string& d : c.local_domains) w.str(d);
    w.u32(static_cast<std::uint32_t>(c.ip_ranges.size()));
    for (const IpRangeConfig& r : c.ip_ranges) {
        w.str(r.name);
        w.u32(static_cast<std::uint32_t>(r.intervals.size()));
        for (const IpInterval& i : r.intervals) {
            put_ip(w, i.lower);
            put_ip(w, i.upper);
        }
        w.u32(static_cast<std::uint32_t>(r.priority));
        w.u8(r.allow.bits());
        w.u8(r.require_auth.bits());
        w.u8(r.require_tls_for_auth ? 1 : 0);
        w.u8(r.expires ? 1 : 0);
        w.i64(r.expires.value_or(0));
        w.u32(r.line);
        w.u32(r.file);
    }
    return out;
}

bool decode_settings(Bytes bytes, Config& c, std::string& why) {
    Reader r(bytes);
    const auto socket = [&](std::string text, MilterSocket& to) {
        if (!r.ok()) return;
        auto parsed = MilterSocket::parse(text);
        if (auto* s = std::get_if<MilterSocket>(&parsed)) to = std::move(*s);
        else r.fail();
    };
    c.file = r.str();
    c.digest = r.str();
    const std::uint32_t files = r.count(4);
    for (std::uint32_t i = 0; i < files && r.ok(); ++i) c.files.push_back(r.str());
    c.config_file_count = files;
    socket(r.str(), c.milter.socket);
    c.milter.user = r.str();
    c.milter.user_line = r.u32();
    c.milter.user_file = r.u32();
    c.milter.timeout = static_cast<int>(r.u32());
    c.milter.log_accepted = r.code<std::uint8_t>(2) == 1;
    if (r.code<std::uint8_t>(2) == 1) {
        MetricsSettings m;
        socket(r.str(), m.listen);
        m.max_connections = static_cast<int>(r.u32());
        m.timeout = static_cast<int>(r.u32());
        m.line = r.u32();
        m.file = r.u32();
        c.metrics = std::move(m);
    }
    c.scope = r.code<Scope>(2);
    c.mode = r.code<Mode>(2);
    c.ip_ranges_are_defaults = r.code<std::uint8_t>(2) == 1;
    const std::uint32_t domains = r.count(4);
    for (std::uint32_t i = 0; i < domains && r.ok(); ++i) c.local_domains.push_back(r.str());
    const std::uint32_t ranges = r.count(4 + 4 + 4 + 4 + 8 + 8);
    for (std::uint32_t i = 0; i < ranges && r.ok(); ++i) {
        IpRangeConfig range;
        range.name = r.str();
        const std::uint32_t intervals = r.count(2 * 17);
        for (std::uint32_t k = 0; k < intervals && r.ok(); ++k) {
            IpInterval interval;
            interval.lower = get_ip(r);
            interval.upper = get_ip(r);
            range.intervals.push_back(interval);
        }
        range.priority = static_cast<int>(r.u32());
        range.allow = DeliveryClassSet::from_bits(r.u8());
        range.require_auth = DeliveryClassSet::from_bits(r.u8());
        range.require_tls_for_auth = r.code<std::uint8_t>(2) == 1;
        const bool expires = r.code<std::uint8_t>(2) == 1;
        const std::int64_t at = r.i64();
        if (expires) range.expires = at;
        range.line = r.u32();
        range.file = r.u32();
        c.ip_ranges.push_back(std::move(range));
    }
    if (!r.ok() || !r.at_end()) {
        why = "damaged settings record";
        return false;
    }
    return true;
}

void encode_routes(const Config& c, const std::vector<std::uint32_t>& listed_counts, std::string& routes,
                   std::string& patterns) {
    routes.clear();
    patterns.clear();
    routes.reserve(c.routes.size() * RouteRecord::size);
    Writer w(routes);
    for (std::size_t i = 0; i < c.routes.size(); ++i) {
        const RouteConfig& r = c.routes[i];
        w.u32(static_cast<std::uint32_t>(patterns.size()));
        w.u16(static_cast<std::uint16_t>(r.pattern.text().size()));
        patterns.append(r.pattern.text());
        w.u8(static_cast<std::uint8_t>(r.pattern.kind()));
        w.u8(static_cast<std::uint8_t>(r.deliver_to));
        w.u32(r.line);
        w.u32(r.file);
        w.u32(i < listed_counts.size() ? listed_counts[i] : 0);
        w.u8(static_cast<std::uint8_t>(r.treat_recipient_as));
        w.u8(static_cast<std::uint8_t>(r.treat_sender_as));
        w.u8(r.mode ? static_cast<std::uint8_t>(*r.mode) : no_mode);
        w.u8(0);
    }
}

bool decode_route(const unsigned char* at, RouteRecord& out) {
    Reader r(Bytes(at, RouteRecord::size));
    out.pattern_offset = r.u32();
    out.pattern_length = r.u16();
    out.kind = r.code<RoutePattern::Kind>(4);
    out.deliver_to = r.code<DeliverTo>(2);
    out.line = r.u32();
    out.file = r.u32();
    out.listed_count = r.u32();
    out.treat_recipient_as = r.code<AddressClass>(2);
    out.treat_sender_as = r.code<AddressClass>(2);
    const std::uint8_t mode = r.u8();
    if (mode == no_mode) out.mode.reset();
    else if (mode < 2) out.mode = static_cast<Mode>(mode);
    else r.fail();
    r.u8();
    return r.ok() && r.at_end();
}

std::string encode_index(std::uint32_t index) {
    std::string out;
    Writer(out).u32(index);
    return out;
}

}  // namespace route_milter::image
