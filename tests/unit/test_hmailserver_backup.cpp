#define BOOST_TEST_DYN_LINK
#include "route_milter/hmailserver/backup.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <boost/test/unit_test.hpp>

#include <string>

using namespace route_milter::hmailserver;

namespace {

const std::string sample_xml = R"(<?xml version="1.0" encoding="UTF-16"?>
<Backup>
<BackupInformation Mode="3" Version="5.6.9-B2641"/>
<Domains>
<Domain Name="corp.example" Postmaster="" Active="1"><DomainAliases><DomainAlias Name="corp-alias.example"/></DomainAliases><Accounts/></Domain>
<Domain Name="old.example" Active="0"/>
</Domains>
<SecurityRanges>
<SecurityRange Name="Internet" LowerIP="0.0.0.0" UpperIP="255.255.255.255" Priority="10" Options="96203" ExpiresTime="2001-01-01 00:00:00" Expires="0"/>
<SecurityRange Name="v6 office" LowerIP="2001:db8::" UpperIP="2001:db8::ffff" Priority="20" Options="1" ExpiresTime="2027-03-01 12:30:00" Expires="1"/>
</SecurityRanges>
<Routes>
<Route Name="Partner.example" Description="ETRN &quot;x&quot;" TargetHost="a.example|b.example" TargetPort="587" NumberOfTries="5" MinutesBetweenTry="30" ToAllAddresses="0" RequiresAuthentication="1" Username="relay" Password="a62b3c438efae3db" TreatRecipientAsLocalDomain="1" TreatSenderAsLocalDomain="0" ConnectionSecurity="3">
<RouteAddresses><RouteAddress Name="Alice@Partner.example"/><RouteAddress Name="bob@partner.example"/></RouteAddresses></Route>
<Route Name="old.example" TargetHost="" UseSSL="1" ToAllAddresses="1"/>
</Routes>
<IncomingRelays/>
</Backup>
)";

// What hMailServer writes: UTF-16LE with a byte order mark (ASCII input only here).
std::string utf16le(const std::string& ascii) {
    std::string out = "\xff\xfe";
    for (char c : ascii) out += {c, '\0'};
    return out;
}

// A 7z archive holding `files` (name, content), made with libarchive's writer.
std::string seven_zip(const std::vector<std::pair<std::string, std::string>>& files) {
    archive* a = archive_write_new();
    archive_write_set_format_7zip(a);
    std::string out(1 << 20, '\0');
    size_t used = 0;
    BOOST_REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
    for (const auto& [name, content] : files) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        BOOST_REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
        BOOST_REQUIRE(archive_write_data(a, content.data(), content.size()) == static_cast<la_ssize_t>(content.size()));
        archive_entry_free(e);
    }
    BOOST_REQUIRE(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
    out.resize(used);
    return out;
}

void check_sample(const BackupResult& r) {
    BOOST_REQUIRE_MESSAGE(r.backup.has_value(), r.error);
    const HmsBackup& b = *r.backup;
    BOOST_TEST(b.version == "5.6.9-B2641");
    BOOST_TEST(b.mode == 3);
    BOOST_REQUIRE(b.domains.size() == 2u);
    BOOST_TEST(b.domains[0].name == "corp.example");
    BOOST_TEST(b.domains[0].active);
    BOOST_TEST(b.domains[0].aliases == std::vector<std::string>{"corp-alias.example"});
    BOOST_TEST(!b.domains[1].active);
    BOOST_REQUIRE(b.security_ranges.size() == 2u);
    BOOST_TEST(b.security_ranges[0].options == 96203);
    BOOST_TEST(!b.security_ranges[0].expires);
    BOOST_TEST(b.security_ranges[1].lower_ip == "2001:db8::");
    BOOST_TEST(b.security_ranges[1].expires);
    BOOST_TEST(b.security_ranges[1].expires_time == "2027-03-01 12:30:00");
    BOOST_REQUIRE(b.routes.size() == 2u);
    const HmsRoute& p = b.routes[0];
    BOOST_TEST(p.name == "Partner.example");
    BOOST_TEST(p.description == "ETRN \"x\"");
    BOOST_TEST(p.target_host == "a.example|b.example");
    BOOST_TEST(p.target_port == 587);
    BOOST_TEST(p.number_of_tries == 5);
    BOOST_TEST(p.minutes_between_try == 30);
    BOOST_TEST(!p.to_all_addresses);
    BOOST_TEST(p.requires_authentication);
    BOOST_TEST(p.username == "relay");
    BOOST_TEST(p.encrypted_password == "a62b3c438efae3db");
    BOOST_TEST(p.treat_recipient_as_local);
    BOOST_TEST(!p.treat_sender_as_local);
    BOOST_TEST(p.connection_security == 3);
    BOOST_TEST(!p.use_ssl);
    BOOST_TEST((p.addresses == std::vector<std::string>{"Alice@Partner.example", "bob@partner.example"}));
    BOOST_TEST(b.routes[1].use_ssl);
    BOOST_TEST(b.routes[1].to_all_addresses);
    BOOST_TEST(b.routes[1].line == 15u);
}

std::string error_of(const std::string& bytes) {
    const BackupResult r = read_backup_bytes(bytes, "test.xml");
    BOOST_TEST(!r.backup.has_value());
    return r.error;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_SUITE(hmailserver_backup)

BOOST_AUTO_TEST_CASE(reads_utf16le_with_bom) { check_sample(read_backup_bytes(utf16le(sample_xml), "b.xml")); }

BOOST_AUTO_TEST_CASE(reads_utf8_too) {
    std::string utf8 = sample_xml;
    utf8.replace(utf8.find("UTF-16"), 6, "UTF-8");
    check_sample(read_backup_bytes(utf8, "b.xml"));
}

BOOST_AUTO_TEST_CASE(reads_the_xml_inside_a_7z) {
    const std::string archive = seven_zip({{"hMailServerBackup.xml", utf16le(sample_xml)}});
    check_sample(read_backup_bytes(archive, "HMBackup.7z"));
}

BOOST_AUTO_TEST_CASE(damaged_archives) {
    const std::string archive = seven_zip({{"hMailServerBackup.xml", utf16le(sample_xml)}});
    for (std::size_t keep : {archive.size() / 2, std::size_t{40}, std::size_t{6}}) {
        const std::string e = error_of(archive.substr(0, keep));
        BOOST_TEST((contains(e, "7z archive") || contains(e, "truncated")), e);
    }
    const std::string other = seven_zip({{"readme.txt", "hello"}});
    BOOST_TEST(contains(error_of(other), "no hMailServerBackup.xml in the archive"));
    const std::string big = seven_zip({{"hMailServerBackup.xml", std::string(5000, ' ')}});
    const BackupResult r = read_backup_bytes(big, "big.7z", 4096);
    BOOST_TEST(contains(r.error, "larger than"), r.error);
}

// libarchive's writer packs every entry into one solid block. Its reader's skip loses its place
// there when the skipped data ends on its 64 KiB buffer; the entries before the XML are read
// through instead, whatever their sizes.
BOOST_AUTO_TEST_CASE(the_xml_after_other_entries_in_a_solid_block) {
    const std::string xml = utf16le(sample_xml);
    using Files = std::vector<std::pair<std::string, std::string>>;
    for (const Files& before : {Files{{"a.txt", std::string(65536, ' ')}}, Files{{"a.txt", std::string(131072, 'x')}},
                                Files{{"a.txt", std::string(1 << 20, '\0')}}, Files{{"a.txt", std::string(65535, ' ')}},
                                Files{{"a.txt", std::string(30000, ' ')}, {"b.txt", std::string(35536, '-')}},
                                Files{{"Data/x.eml", std::string(65536 * 3, 'm')}, {"readme.txt", "hello"}}}) {
        Files files = before;
        files.emplace_back("hMailServerBackup.xml", xml);
        BOOST_TEST_CONTEXT(before.size() << " entries before, the first of " << before[0].second.size() << " bytes") {
            check_sample(read_backup_bytes(seven_zip(files), "HMBackup.7z"));
        }
    }
}

// The entries before the XML unpack to 32 times the archive at most, plus the XML's limit: more
// is refused as a bomb, without unpacking the rest.
BOOST_AUTO_TEST_CASE(entries_before_the_xml_are_bounded) {
    const std::string bomb = seven_zip({{"a.txt", std::string(4 << 20, '\0')}, {"hMailServerBackup.xml", utf16le(sample_xml)}});
    BOOST_TEST_REQUIRE(bomb.size() * 32 + 65536 < (1u << 20));
    const BackupResult r = read_backup_bytes(bomb, "bomb.7z", 65536);
    BOOST_TEST(r.error == "bomb.7z: the entries before hMailServerBackup.xml unpack to more than " +
                              std::to_string(65536 + bomb.size() * 32) + " bytes (32 times the archive, and the XML's own limit), refused: an archive bomb? (make the "
                              "backup without Messages)",
               r.error);
    check_sample(read_backup_bytes(bomb, "bomb.7z"));  // within the default limit
}

BOOST_AUTO_TEST_CASE(not_an_hmailserver_backup) {
    BOOST_TEST(contains(error_of("<config><route/></config>"), "root element <config>, expected <Backup>"));
    BOOST_TEST(contains(error_of("<Backup><Routes/></Backup>"), "no <BackupInformation>"));
    BOOST_TEST(contains(error_of("not xml at all"), "not well-formed XML (line 1"));
    BOOST_TEST(contains(error_of(""), "not well-formed XML"));
    BOOST_TEST(contains(error_of(sample_xml.substr(0, sample_xml.size() / 2)), "not well-formed XML"));
    BOOST_TEST(contains(error_of("<!DOCTYPE Backup [<!ENTITY a \"aaaa\">]><Backup><BackupInformation Mode=\"3\"/></Backup>"),
                        "DOCTYPE"));
    // Latin-1 bytes in a document that says (by default) UTF-8.
    BOOST_TEST(contains(error_of("<Backup><BackupInformation Mode=\"3\"/><Domains><Domain Name=\"caf\xe9.example\"/>"
                                 "</Domains></Backup>"),
                        "not well-formed XML"));
    // UTF-16 without its BOM is still recognised (libxml2 reads the encoding from "<?xml").
    check_sample(read_backup_bytes(utf16le(sample_xml).substr(2), "b.xml"));
}

BOOST_AUTO_TEST_CASE(made_without_settings_or_domains) {
    BOOST_TEST(contains(error_of("<Backup><BackupInformation Mode=\"2\"/></Backup>"), "without Settings"));
    BOOST_TEST(contains(error_of("<Backup><BackupInformation Mode=\"1\"/></Backup>"), "without Domains"));
    BOOST_TEST(contains(error_of("<Backup><BackupInformation Mode=\"4\"/></Backup>"), "without Settings and Domains"));
}

BOOST_AUTO_TEST_CASE(numbers_must_be_numbers) {
    const std::string e = error_of("<Backup><BackupInformation Mode=\"3\"/>\n<SecurityRanges><SecurityRange Name=\"x\" "
                                   "Priority=\"ten\"/></SecurityRanges></Backup>");
    BOOST_TEST(contains(e, "line 2, <SecurityRange>: Priority is not an integer (\"ten\")"), e);
    BOOST_TEST(contains(error_of("<Backup><BackupInformation Mode=\"3\"/><Routes><Route TargetPort=\"99999999999999999999\"/>"
                                 "</Routes></Backup>"),
                        "TargetPort is not an integer"));
}

BOOST_AUTO_TEST_SUITE_END()
