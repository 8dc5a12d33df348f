#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"
#include "route_milter/core/live_policy.hpp"

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

using namespace route_milter;

namespace {

std::shared_ptr<const Policy> policy_listing(const char* address) {
    const std::string text = std::string("routes = ( { domain = \"backup.test\"; treat_recipient_as = \"local\"; "
                                         "deliver_to = \"listed\"; addresses = [ \"") +
                             address + "\" ]; } );";
    PolicyResult r = load_policy_text(text, "live.conf");
    BOOST_REQUIRE(r.policy != nullptr);
    return r.policy;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(live_policy)

// Readers decide while a writer swaps two policies whose answers differ; every answer must be
// the one of the snapshot it was taken from (run under ThreadSanitizer by make check-tsan).
BOOST_AUTO_TEST_CASE(reload_in_a_loop_while_threads_decide) {
    const auto alice = policy_listing("alice@backup.test");
    const auto carol = policy_listing("carol@backup.test");
    LivePolicy live(alice);
    std::atomic<bool> stop{false};
    std::atomic<long> decisions{0}, wrong{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
        readers.emplace_back([&] {
            NormalizedAddress sender, rcpt;
            parse_address("<x@far.test>", sender);
            parse_address("<alice@backup.test>", rcpt);
            while (!stop.load(std::memory_order_relaxed)) {
                const std::shared_ptr<const Policy> snapshot = live.snapshot();
                const MessageFacts facts = snapshot->message_facts(parse_ip_address("203.0.113.1"), false, false, &sender, 0);
                const Rule rule = snapshot->decide_recipient(facts, rcpt).rule;
                const Rule expected = snapshot == alice ? Rule::no_objection : Rule::not_listed;
                if (rule != expected) wrong.fetch_add(1);
                decisions.fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    for (int i = 0; i < 2000; ++i) live.publish(i % 2 == 0 ? carol : alice);
    // Keep swapping until the readers have decided a fair amount, however slow the build or busy
    // the machine: bounded by time, not by a count of swaps, and yielding so the readers run.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int i = 0; decisions.load() < 20000 && std::chrono::steady_clock::now() < deadline; ++i) {
        live.publish(i % 2 == 0 ? carol : alice);
        std::this_thread::yield();
    }
    stop = true;
    for (auto& t : readers) t.join();
    BOOST_TEST(wrong.load() == 0);
    BOOST_TEST(decisions.load() >= 20000);
    BOOST_TEST(live.snapshot().use_count() >= 2);  // alive after all the swaps
}

BOOST_AUTO_TEST_CASE(a_snapshot_outlives_a_swap) {
    LivePolicy live(policy_listing("alice@backup.test"));
    const auto before = live.snapshot();
    live.publish(policy_listing("carol@backup.test"));
    NormalizedAddress rcpt;
    parse_address("<alice@backup.test>", rcpt);
    const std::uint32_t route_before = before->route_for_domain("backup.test");
    BOOST_REQUIRE(route_before < before->route_count());
    BOOST_TEST((before->is_listed(route_before, rcpt.text()) == std::optional<bool>(true)));
    const auto after = live.snapshot();
    const std::uint32_t route_after = after->route_for_domain("backup.test");
    BOOST_REQUIRE(route_after < after->route_count());
    BOOST_TEST((after->is_listed(route_after, rcpt.text()) == std::optional<bool>(false)));
}

BOOST_AUTO_TEST_SUITE_END()
