// libFuzzer target: an hMailServer backup (7z archive or XML, any encoding) read and imported,
// and the imported text through the daemon's own loader.
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/policy.hpp"
#include "route_milter/hmailserver/backup.hpp"
#include "route_milter/hmailserver/import.hpp"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace route_milter;
using namespace route_milter::hmailserver;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    // A small XML limit: an archive that inflates beyond it must be refused, not read.
    const BackupResult read = read_backup_bytes(bytes, "fuzz.7z", 1u << 20);
    if (read.backup.has_value() == !read.error.empty()) std::abort();
    if (!read.backup) return 0;
    const ImportResult imported = import_backup(*read.backup, {"fuzz.7z", 1795000000});
    if (!imported.errors.empty()) return 0;
    // What the importer writes without an error must be a config the loader reads: anything
    // else is a case the importer should have reported (or mapped) itself.
    const PolicyResult loaded = load_policy_text(imported.config_text, "imported.conf");
    if (loaded.policy == nullptr) std::abort();
    return 0;
}
