// routectl compile: the config and every file it names, checked and written as the policy image.
#include "commands.hpp"
#include "policy_loading.hpp"
#include "route_milter/image/policy_image_file.hpp"

#include <sysexits.h>

#include <cstdio>

namespace route_milter {

namespace {

int command_compile(const CommandArguments& a) {
    const std::optional<Config> config =
        load_config_or_report(a.config_path, a.has("skip-user-check") ? UserCheck::skip : UserCheck::config_user);
    if (!config) return EX_CONFIG;
    const std::string image = a.value_or("output", config->image);
    if (const std::string error = write_policy_image(*config, image); !error.empty()) {
        std::fprintf(stderr, "routectl compile: %s\n", error.c_str());
        return EX_CANTCREAT;
    }
    // What was written is what the daemon will map: open it as the daemon does.
    const Policy::Opened opened = open_policy_image(image);
    if (!opened.policy) {
        std::fprintf(stderr, "routectl compile: %s\n", opened.error.c_str());
        return EX_SOFTWARE;
    }
    if (!a.has("quiet"))
        std::printf("%s: %u routes, %zu listed addresses, %zu source files, digest %s\n", image.c_str(),
                    opened.policy->route_count(), opened.policy->listed_address_count(),
                    static_cast<std::size_t>(opened.policy->header().source_count), opened.policy->config().digest.c_str());
    return EX_OK;
}

}  // namespace

const RoutectlCommand compile_command{
    "compile", "check the configuration and write the policy image the daemon maps",
    {{"output", 'o', "IMAGE", false, "write the image to IMAGE (default: the config's image setting)"},
     {"quiet", 'q', nullptr, false, "print nothing on success"},
     {"skip-user-check", 0, nullptr, false, "do not ask whether milter.user exists"}}, nullptr, command_compile};

}  // namespace route_milter
