// backup.hpp - what an hMailServer backup holds about routes, IP ranges and domains.
//
// NAME
//   read_backup_file, read_backup_bytes - hMailServer's backup, read into plain data.
// SYNOPSIS
//   BackupResult r = read_backup_file("HMBackup 2026-12-01 0300.7z");
//   if (r.backup) for (const HmsRoute& route : r.backup->routes) ...
// DESCRIPTION
//   hMailServer (Server/Common/Application/BackupExecuter.cpp) writes hMailServerBackup.xml as
//   UTF-16LE with a BOM and packs it into "HMBackup <date>.7z". Either the archive or the XML
//   itself is accepted: a file starting with the 7z signature is opened with libarchive and its
//   hMailServerBackup.xml read (the entries before it are read through, not skipped: libarchive's
//   skip inside a solid block can lose its place); anything else is taken as the XML. The XML is parsed by libxml2
//   (any encoding it announces or a BOM says; no DTD, no network, no entity expansion).
//   The attributes are kept as hMailServer wrote them (strings and integers); what they mean
//   for route-milter is decided by import.hpp. Passwords stay encrypted here.
// DIAGNOSTICS
//   error (backup empty) names the file and what is wrong: not a 7z archive nor XML, a
//   truncated or damaged archive, no hMailServerBackup.xml inside, an XML parse error with its
//   line, a root other than <Backup> or no <BackupInformation> (not an hMailServer backup), a
//   backup made without the Settings or Domains option, an integer attribute that is not a
//   number (with the element's name), an XML larger than max_backup_xml_bytes, entries before
//   the XML that unpack to more than 32 times the archive plus that limit (a bomb).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace route_milter::hmailserver {

struct HmsRoute {
    std::string name;          // the domain pattern, may hold * and ?
    std::string description;
    std::string target_host;   // "" (MX lookup), "host", or "a|b"
    long long target_port = 25;
    long long number_of_tries = 0;
    long long minutes_between_try = 0;
    bool to_all_addresses = true;
    bool requires_authentication = false;
    std::string username;
    std::string encrypted_password;  // hex, as in the backup
    bool treat_recipient_as_local = false;
    bool treat_sender_as_local = false;
    long long connection_security = 0;  // 0 none, 1 SSL/TLS, 2 STARTTLS optional, 3 STARTTLS required
    bool use_ssl = false;               // older backups: UseSSL="1" (means SSL/TLS; wins, as in Route::XMLLoad)
    std::vector<std::string> addresses;  // RouteAddress Name=...
    unsigned line = 0;                   // of the <Route> element in the XML
};

struct HmsSecurityRange {
    std::string name;
    std::string lower_ip, upper_ip;
    long long priority = 0;
    long long options = 0;
    bool expires = false;
    std::string expires_time;  // "YYYY-MM-DD HH:MM:SS", the server's local time
    unsigned line = 0;
};

struct HmsDomain {
    std::string name;
    bool active = false;
    std::vector<std::string> aliases;
    unsigned line = 0;
};

struct HmsBackup {
    std::string version;  // BackupInformation Version
    long long mode = 0;   // BackupInformation Mode: the options the backup was made with
    std::vector<HmsRoute> routes;
    std::vector<HmsSecurityRange> security_ranges;
    std::vector<HmsDomain> domains;
};

// Backup::BackupOptions (Server/Common/Application/Backup.h), in BackupInformation Mode.
inline constexpr long long backup_settings = 1;
inline constexpr long long backup_domains = 2;

inline constexpr std::size_t max_backup_xml_bytes = 512u << 20;

struct BackupResult {
    std::optional<HmsBackup> backup;
    std::string error;  // set when backup is empty
};

BackupResult read_backup_file(const std::string& path);
// Same on bytes in memory (tests, fuzzing); `name` stands for the file in messages.
BackupResult read_backup_bytes(std::string_view bytes, const std::string& name,
                               std::size_t max_xml_bytes = max_backup_xml_bytes);

}  // namespace route_milter::hmailserver
