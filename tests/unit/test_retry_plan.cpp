#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"
#include "route_milter/postfix/postqueue_json.hpp"
#include "route_milter/core/retry_plan.hpp"

#include "test_support.hpp"

#include <boost/test/unit_test.hpp>

#include <memory>

using namespace route_milter;

namespace {

const std::int64_t T = 1'800'000'000;  // arrival time of the test messages
const std::int64_t minute = 60;

// The planner reads a Config's routes through a RouteTable, which points into the Config.
struct RetryRoutes {
    Config config;
    RouteTable table{config};
};

std::unique_ptr<const RetryRoutes> routes() {
    CompiledConfig r = compile_config_text(R"(
        routes = ( { domain = "quick.test"; retries = 2; retry_minutes = 10; },
                   { domain = "patient.test"; retries = 3; retry_minutes = 60; },
                   { domain = "never.test"; retries = 0; retry_minutes = 5; },
                   { domain = "held.test"; retries = 1; retry_minutes = 5; etrn = true; } );
    )", "retry.conf");
    BOOST_REQUIRE_MESSAGE(r.config.has_value(), testing::errors_text(r));
    return std::make_unique<const RetryRoutes>(std::move(*r.config));
}

QueuedMessage message(const std::string& id, std::initializer_list<const char*> recipients,
                      const char* queue = "deferred") {
    QueuedMessage m{id, queue, T, "sender@far.test", false, {}};
    for (const char* r : recipients) m.recipients.push_back({r, "connect refused"});
    return m;
}

std::string actions(const RetryPlan& plan) {
    std::string out;
    for (const RetryAction& a : plan.actions)
        out += std::string(name_of(a.kind)) + " " + a.queue_id + " " + std::to_string(a.attempt) + " " +
               a.route->pattern.text() + ";";
    return out;
}

// Runs the planner at each time in turn, feeding its state back, as the timer would.
std::string timeline(const QueueSnapshot& queue, std::initializer_list<std::int64_t> times, RetryState state = {}) {
    const auto p = routes();
    std::string out;
    for (const std::int64_t t : times) {
        const RetryPlan plan = plan_retries(queue, state, t, p->table);
        out += "@" + std::to_string((t - T) / minute) + ":" + actions(plan) + " ";
        state = plan.next_state;
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(retry_plan)

BOOST_AUTO_TEST_CASE(kicks_every_interval_then_expires) {
    const QueueSnapshot q{message("A1", {"x@quick.test"})};
    BOOST_TEST(timeline(q, {T + 5 * minute, T + 10 * minute, T + 15 * minute, T + 20 * minute, T + 20 * minute + 30,
                            T + 21 * minute, T + 22 * minute}) ==
               "@5: @10:kick A1 1 quick.test; @15: @20:kick A1 2 quick.test; @20: @21:expire A1 2 quick.test; "
               "@22:expire A1 2 quick.test; ");
}

BOOST_AUTO_TEST_CASE(late_runs_catch_up_one_attempt_per_interval) {
    // The timer was down for an hour: one kick now, the next one an interval later, not both at once.
    const QueueSnapshot q{message("A1", {"x@quick.test"})};
    BOOST_TEST(timeline(q, {T + 60 * minute, T + 61 * minute, T + 70 * minute, T + 71 * minute}) ==
               "@60:kick A1 1 quick.test; @61: @70:kick A1 2 quick.test; @71:expire A1 2 quick.test; ");
}

BOOST_AUTO_TEST_CASE(most_patient_route_decides) {
    const QueueSnapshot q{message("B1", {"x@quick.test", "y@patient.test"})};
    BOOST_TEST(timeline(q, {T + 10 * minute, T + 60 * minute, T + 120 * minute, T + 180 * minute, T + 181 * minute}) ==
               "@10: @60:kick B1 1 patient.test; @120:kick B1 2 patient.test; @180:kick B1 3 patient.test; "
               "@181:expire B1 3 patient.test; ");
}

BOOST_AUTO_TEST_CASE(zero_retries_expire_after_the_first_failure) {
    const QueueSnapshot q{message("C1", {"x@never.test"})};
    BOOST_TEST(timeline(q, {T + 30, T + minute}) == "@0: @1:expire C1 0 never.test; ");
}

BOOST_AUTO_TEST_CASE(messages_outside_routes_follow_postfix) {
    const QueueSnapshot q{message("D1", {"x@quick.test", "y@elsewhere.test"}), message("D2", {"bad address"})};
    const auto p = routes();
    const RetryPlan plan = plan_retries(q, {}, T + 1000 * minute, p->table);
    BOOST_TEST(plan.actions.empty());
    BOOST_TEST(plan.next_state.empty());
}

BOOST_AUTO_TEST_CASE(etrn_routes_are_held_never_kicked_nor_expired) {
    // Alone, or beside a route with a schedule: the held recipient keeps the message waiting for ETRN.
    const QueueSnapshot q{message("E1", {"x@held.test"}), message("E2", {"x@quick.test", "y@held.test"}),
                          message("Q1", {"x@quick.test"})};
    BOOST_TEST(timeline(q, {T + 10 * minute, T + 20 * minute, T + 30 * minute, T + 10000 * minute}) ==
               "@10:kick Q1 1 quick.test; @20:kick Q1 2 quick.test; @30:expire Q1 2 quick.test; "
               "@10000:expire Q1 2 quick.test; ");
}

BOOST_AUTO_TEST_CASE(only_deferred_messages_are_acted_on) {
    const QueueSnapshot q{message("E1", {"x@quick.test"}, "active"), message("E2", {"x@quick.test"}, "hold")};
    BOOST_TEST(timeline(q, {T + 100 * minute}) == "@100: ");
    QueueSnapshot expired{message("E3", {"x@quick.test"})};
    expired[0].forced_expire = true;
    BOOST_TEST(timeline(expired, {T + 100 * minute}) == "@100: ");
}

BOOST_AUTO_TEST_CASE(lost_state_never_expires_early) {
    const QueueSnapshot q{message("F1", {"x@quick.test"})};
    const auto p = routes();
    RetryPlan plan = plan_retries(q, {}, T + 10 * minute, p->table);
    plan = plan_retries(q, plan.next_state, T + 20 * minute, p->table);
    BOOST_TEST(actions(plan) == "kick F1 2 quick.test;");
    // The state file is lost here: the count starts again, so two more kicks come before expiry.
    BOOST_TEST(timeline(q, {T + 21 * minute, T + 31 * minute, T + 32 * minute, T + 41 * minute, T + 42 * minute}) ==
               "@21:kick F1 1 quick.test; @31:kick F1 2 quick.test; @32:expire F1 2 quick.test; "
               "@41:expire F1 2 quick.test; @42:expire F1 2 quick.test; ");
}

BOOST_AUTO_TEST_CASE(reused_queue_id_starts_a_new_record) {
    RetryState state{{"G1", RetryRecord{T - 5000, 2, T - 100}}};
    const QueueSnapshot q{message("G1", {"x@quick.test"})};
    const auto p = routes();
    const RetryPlan plan = plan_retries(q, state, T + 5 * minute, p->table);
    BOOST_TEST(plan.actions.empty());
    BOOST_TEST(plan.next_state.at("G1").attempts == 0);
    BOOST_TEST(plan.next_state.at("G1").arrival_time == T);
}

BOOST_AUTO_TEST_CASE(state_round_trips_and_rejects_garbage) {
    const RetryState state{{"A1", RetryRecord{T, 2, T + 600}}, {"B2", RetryRecord{T + 1, 0, 0}}};
    const auto parsed = parse_retry_state(serialize_retry_state(state));
    BOOST_REQUIRE(parsed.has_value());
    BOOST_TEST((*parsed == state));
    BOOST_TEST(!parse_retry_state("").has_value());
    BOOST_TEST(!parse_retry_state("{\"version\": 1, \"messages\": {\"A\": {\"attempts\": 1}}}").has_value());
    BOOST_TEST(!parse_retry_state("{\"version\": 2, \"messages\": {}}").has_value());
    BOOST_TEST(!parse_retry_state("{\"version\": 1, \"messages\": {\"A\": {\"arrival_time\": 1, \"attempts\": -1, "
                                  "\"last_attempt\": 0}}}").has_value());
    BOOST_TEST(!parse_retry_state("{\"version\": 1, \"mess").has_value());
}

BOOST_AUTO_TEST_CASE(reads_postqueue_json) {
    const std::string text =
        R"({"queue_name": "deferred", "queue_id": "4F9D195432", "arrival_time": 1528398300, "message_size": 332, "forced_expire": false, "sender": "a@far.test", "recipients": [{"address": "x@quick.test", "delay_reason": "connect to 127.0.0.1[127.0.0.1]:9: Connection refused"}, {"address": "y@patient.test"}]})"
        "\n\nnot json\n"
        R"({"queue_name": "active", "queue_id": "ABC", "arrival_time": 5, "sender": "", "recipients": []})"
        "\n"
        R"({"queue_name": "active", "arrival_time": 5, "recipients": []})"
        "\n";
    const QueueParseResult r = parse_postqueue_json(text);
    BOOST_REQUIRE(r.messages.size() == 2u);
    BOOST_TEST(r.messages[0].queue_id == "4F9D195432");
    BOOST_TEST(r.messages[0].queue_name == "deferred");
    BOOST_TEST(r.messages[0].arrival_time == 1528398300);
    BOOST_TEST(r.messages[0].recipients.size() == 2u);
    BOOST_TEST(r.messages[0].recipients[1].address == "y@patient.test");
    BOOST_TEST(r.messages[1].sender == "");
    BOOST_REQUIRE(r.errors.size() == 2u);
    BOOST_TEST(r.errors[0].rfind("line 3: ", 0) == 0u);
    BOOST_TEST(r.errors[1].rfind("line 5: ", 0) == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
