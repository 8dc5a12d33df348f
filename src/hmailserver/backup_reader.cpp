// backup_reader.cpp - hMailServer's backup (.7z or its XML) into HmsBackup: libarchive, libxml2.
#include "route_milter/hmailserver/backup.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>

namespace route_milter::hmailserver {
namespace {

constexpr std::string_view seven_zip_magic{"7z\xBC\xAF\x27\x1C", 6};
constexpr std::string_view xml_name = "hMailServerBackup.xml";

// A problem in the XML's content: caught in read_xml and turned into BackupResult::error.
struct BadBackup : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct ArchiveCloser {
    void operator()(archive* a) const { archive_read_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveCloser>;

struct DocFreer {
    void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using DocPtr = std::unique_ptr<xmlDoc, DocFreer>;

bool named(const xmlNode* n, const char* name) {
    return n->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

// The children of `parent` named `name`.
template <typename Fn>
void for_each_child(const xmlNode* parent, const char* name, Fn&& fn) {
    for (const xmlNode* c = parent->children; c != nullptr; c = c->next)
        if (named(c, name)) fn(c);
}

const xmlNode* first_child(const xmlNode* parent, const char* name) {
    for (const xmlNode* c = parent->children; c != nullptr; c = c->next)
        if (named(c, name)) return c;
    return nullptr;
}

std::string attribute(const xmlNode* n, const char* name) {
    xmlChar* value = xmlGetNoNsProp(n, reinterpret_cast<const xmlChar*>(name));
    if (value == nullptr) return {};
    std::string out(reinterpret_cast<const char*>(value));
    xmlFree(value);
    return out;
}

std::string where(const xmlNode* n) {
    return "line " + std::to_string(xmlGetLineNo(n)) + ", <" + reinterpret_cast<const char*>(n->name) + ">";
}

// hMailServer writes integers with IntToString; an absent attribute reads as `fallback`.
long long integer(const xmlNode* n, const char* name, long long fallback) {
    const std::string text = attribute(n, name);
    if (text.empty()) return fallback;
    long long value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data() + (text[0] == '+' ? 1 : 0), end, value);
    if (ec != std::errc() || ptr != end)
        throw BadBackup(where(n) + ": " + name + " is not an integer (\"" + text.substr(0, 40) + "\")");
    return value;
}

// hMailServer's booleans are "1" / "0" (anything but "1" is false, as its XMLLoad reads them).
bool flag(const xmlNode* n, const char* name) { return attribute(n, name) == "1"; }

unsigned line_of(const xmlNode* n) {
    const long line = xmlGetLineNo(n);
    return line > 0 ? static_cast<unsigned>(line) : 0;
}

HmsRoute read_route(const xmlNode* n) {
    HmsRoute r;
    r.line = line_of(n);
    r.name = attribute(n, "Name");
    r.description = attribute(n, "Description");
    r.target_host = attribute(n, "TargetHost");
    r.target_port = integer(n, "TargetPort", 25);
    r.number_of_tries = integer(n, "NumberOfTries", 0);
    r.minutes_between_try = integer(n, "MinutesBetweenTry", 0);
    r.to_all_addresses = flag(n, "ToAllAddresses");
    r.requires_authentication = flag(n, "RequiresAuthentication");
    r.username = attribute(n, "Username");
    r.encrypted_password = attribute(n, "Password");
    r.treat_recipient_as_local = flag(n, "TreatRecipientAsLocalDomain");
    r.treat_sender_as_local = flag(n, "TreatSenderAsLocalDomain");
    r.connection_security = integer(n, "ConnectionSecurity", 0);
    r.use_ssl = flag(n, "UseSSL");
    if (const xmlNode* list = first_child(n, "RouteAddresses"))
        for_each_child(list, "RouteAddress", [&](const xmlNode* a) { r.addresses.push_back(attribute(a, "Name")); });
    return r;
}

HmsSecurityRange read_range(const xmlNode* n) {
    HmsSecurityRange r;
    r.line = line_of(n);
    r.name = attribute(n, "Name");
    r.lower_ip = attribute(n, "LowerIP");
    r.upper_ip = attribute(n, "UpperIP");
    r.priority = integer(n, "Priority", 0);
    r.options = integer(n, "Options", 0);
    r.expires = flag(n, "Expires");
    r.expires_time = attribute(n, "ExpiresTime");
    return r;
}

HmsDomain read_domain(const xmlNode* n) {
    HmsDomain d;
    d.line = line_of(n);
    d.name = attribute(n, "Name");
    d.active = flag(n, "Active");
    if (const xmlNode* list = first_child(n, "DomainAliases"))
        for_each_child(list, "DomainAlias", [&](const xmlNode* a) { d.aliases.push_back(attribute(a, "Name")); });
    return d;
}

// libxml2's error, with its line, in our words.
std::string parse_problem(xmlParserCtxtPtr context) {
    const xmlError* error = xmlCtxtGetLastError(context);
    if (error == nullptr || error->message == nullptr) return "empty";
    std::string text = error->message;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return "line " + std::to_string(error->line) + ": " + text;
}

BackupResult read_xml(std::string_view xml, const std::string& name) {
    BackupResult result;
    if (xml.size() > static_cast<std::size_t>(INT32_MAX)) {
        result.error = name + ": XML too large";
        return result;
    }
    DocPtr doc;
    std::string problem;
    {
        xmlParserCtxtPtr context = xmlNewParserCtxt();
        if (context == nullptr) throw std::bad_alloc();
        // No network, no entity substitution, no DTD loading; libxml2 reads the encoding from
        // the BOM or the declaration (hMailServer: UTF-16LE with a BOM).
        doc.reset(xmlCtxtReadMemory(context, xml.data(), static_cast<int>(xml.size()), name.c_str(), nullptr,
                                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
        if (!doc || context->wellFormed == 0) {
            problem = parse_problem(context);
            doc.reset();
        }
        xmlFreeParserCtxt(context);
    }
    if (!doc) {
        result.error = name + ": not well-formed XML (" + (problem.empty() ? "empty" : problem) + ")";
        return result;
    }
    if (doc->intSubset != nullptr) {
        result.error = name + ": has a DOCTYPE, which an hMailServer backup never has";
        return result;
    }
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (root == nullptr || !named(root, "Backup")) {
        result.error = name + ": not an hMailServer backup (root element <" +
                       (root != nullptr ? std::string(reinterpret_cast<const char*>(root->name)).substr(0, 60) : "") +
                       ">, expected <Backup>)";
        return result;
    }
    const xmlNode* info = first_child(root, "BackupInformation");
    if (info == nullptr) {
        result.error = name + ": not an hMailServer backup (no <BackupInformation> in <Backup>)";
        return result;
    }
    try {
        HmsBackup backup;
        backup.version = attribute(info, "Version");
        backup.mode = integer(info, "Mode", 0);
        std::string missing;
        if ((backup.mode & backup_settings) == 0) missing = "Settings";
        if ((backup.mode & backup_domains) == 0) missing += std::string(missing.empty() ? "" : " and ") + "Domains";
        if (!missing.empty()) {
            result.error = name + ": the backup was made without " + missing + " (BackupInformation Mode=" +
                           std::to_string(backup.mode) +
                           "); make it again with Settings and Domains ticked (hMailServer Administrator, "
                           "Utilities, Backup)";
            return result;
        }
        for_each_child(root, "Routes", [&](const xmlNode* list) {
            for_each_child(list, "Route", [&](const xmlNode* n) { backup.routes.push_back(read_route(n)); });
        });
        for_each_child(root, "SecurityRanges", [&](const xmlNode* list) {
            for_each_child(list, "SecurityRange", [&](const xmlNode* n) { backup.security_ranges.push_back(read_range(n)); });
        });
        for_each_child(root, "Domains", [&](const xmlNode* list) {
            for_each_child(list, "Domain", [&](const xmlNode* n) { backup.domains.push_back(read_domain(n)); });
        });
        result.backup = std::move(backup);
    } catch (const BadBackup& e) {
        result.error = name + ": " + e.what();
    }
    return result;
}

// "512 MB", or "4096 bytes" below a megabyte.
std::string size_text(std::uint64_t bytes) {
    return bytes >= (1u << 20) ? std::to_string(bytes >> 20) + " MB" : std::to_string(bytes) + " bytes";
}

std::string archive_problem(archive* a) {
    const char* text = archive_error_string(a);
    return text != nullptr ? text : "unknown error";
}

// What the entries before hMailServerBackup.xml may unpack to: the XML's own limit and 32 times
// the archive's size (a backup with messages compresses them far less; a bomb far more).
std::uint64_t read_through_budget(std::uint64_t archive_bytes, std::size_t max_xml_bytes) {
    return max_xml_bytes + std::min<std::uint64_t>(archive_bytes, UINT64_MAX / 64) * 32;
}

// Reads through the current entry's data, counted against `budget`; "" or what is wrong. Not
// archive_read_data_skip: inside a solid block libarchive's skip (3.6, 3.7) loses its place when
// the skipped data ends on its 64 KiB buffer, and the next entry then reads as "Truncated 7-Zip
// file body".
std::string read_through(archive* a, std::uint64_t& budget, std::uint64_t budget_total) {
    for (;;) {
        const void* block = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        const int status = archive_read_data_block(a, &block, &size, &offset);
        if (status == ARCHIVE_EOF) return {};
        if (status < ARCHIVE_WARN) return "damaged or truncated 7z archive (" + archive_problem(a) + ")";
        if (size > budget)
            return "the entries before " + std::string(xml_name) + " unpack to more than " +
                   size_text(budget_total) + " (32 times the archive, and the XML's own limit), refused: "
                   "an archive bomb? (make the backup without Messages)";
        budget -= size;
    }
}

// The hMailServerBackup.xml entry of an open 7z archive of `archive_bytes`, read whole (at most
// `limit` bytes); the entries before it are read through, up to read_through_budget.
BackupResult read_archive(archive* a, const std::string& name, std::size_t limit, std::uint64_t archive_bytes) {
    BackupResult result;
    archive_entry* entry = nullptr;
    const std::uint64_t budget_total = read_through_budget(archive_bytes, limit);
    std::uint64_t budget = budget_total;
    for (;;) {
        const int status = archive_read_next_header(a, &entry);
        if (status == ARCHIVE_EOF) {
            result.error = name + ": no " + std::string(xml_name) +
                           " in the archive (is this an hMailServer backup made with the Settings option?)";
            return result;
        }
        if (status < ARCHIVE_WARN) {
            result.error = name + ": damaged or truncated 7z archive (" + archive_problem(a) + ")";
            return result;
        }
        const char* path = archive_entry_pathname(entry);
        std::string_view base = path != nullptr ? path : "";
        if (const auto slash = base.find_last_of("/\\"); slash != std::string_view::npos) base.remove_prefix(slash + 1);
        if (base.size() == xml_name.size() && strncasecmp(base.data(), xml_name.data(), base.size()) == 0) break;
        if (std::string problem = read_through(a, budget, budget_total); !problem.empty()) {
            result.error = name + ": " + problem;
            return result;
        }
    }
    std::string xml;
    char buffer[65536];
    for (;;) {
        const la_ssize_t n = archive_read_data(a, buffer, sizeof buffer);
        if (n == 0) break;
        if (n < 0) {
            result.error = name + ": damaged or truncated 7z archive, reading " + std::string(xml_name) + " (" +
                           archive_problem(a) + ")";
            return result;
        }
        if (xml.size() + static_cast<std::size_t>(n) > limit) {
            result.error = name + ": " + std::string(xml_name) + " is larger than " + size_text(limit) + ", refused";
            return result;
        }
        xml.append(buffer, static_cast<std::size_t>(n));
    }
    return read_xml(xml, name + "(" + std::string(xml_name) + ")");
}

ArchivePtr new_7z_reader() {
    ArchivePtr a(archive_read_new());
    if (!a) throw std::bad_alloc();
    archive_read_support_format_7zip(a.get());
    archive_read_support_filter_none(a.get());
    return a;
}

}  // namespace

BackupResult read_backup_bytes(std::string_view bytes, const std::string& name, std::size_t max_xml_bytes) {
    if (!bytes.starts_with(seven_zip_magic)) {
        if (bytes.size() > max_xml_bytes) return {std::nullopt, name + ": larger than " + size_text(max_xml_bytes) + ", refused"};
        return read_xml(bytes, name);
    }
    ArchivePtr a = new_7z_reader();
    if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK)
        return {std::nullopt, name + ": cannot open the 7z archive (" + archive_problem(a.get()) + ")"};
    return read_archive(a.get(), name, max_xml_bytes, bytes.size());
}

BackupResult read_backup_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {std::nullopt, path + ": cannot open (" + std::strerror(errno) + ")"};
    char head[6] = {};
    in.read(head, sizeof head);
    const std::string_view start(head, static_cast<std::size_t>(in.gcount()));
    if (start == seven_zip_magic) {
        // The archive may also hold the message files (gigabytes): stream it, do not load it.
        in.seekg(0, std::ios::end);
        const auto archive_bytes = static_cast<std::uint64_t>(std::max<std::streamoff>(in.tellg(), 0));
        ArchivePtr a = new_7z_reader();
        if (archive_read_open_filename(a.get(), path.c_str(), 65536) != ARCHIVE_OK)
            return {std::nullopt, path + ": cannot open the 7z archive (" + archive_problem(a.get()) + ")"};
        return read_archive(a.get(), path, max_backup_xml_bytes, archive_bytes);
    }
    in.clear();
    in.seekg(0, std::ios::end);
    const auto size = static_cast<std::size_t>(in.tellg());
    if (size > max_backup_xml_bytes)
        return {std::nullopt, path + ": larger than " + size_text(max_backup_xml_bytes) + ", refused"};
    in.seekg(0);
    std::string bytes(size, '\0');
    in.read(bytes.data(), static_cast<std::streamsize>(size));
    if (!in) return {std::nullopt, path + ": read error (" + std::strerror(errno) + ")"};
    return read_xml(bytes, path);
}

}  // namespace route_milter::hmailserver
