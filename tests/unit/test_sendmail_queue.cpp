#define BOOST_TEST_DYN_LINK
#include "route_milter/config/load_policy.hpp"
#include "route_milter/config/config_loader.hpp"
#include "route_milter/core/retry_plan.hpp"
#include "route_milter/sendmail/sendmail_queue.hpp"

#include <boost/test/unit_test.hpp>

using namespace route_milter;

namespace {

// A qf file as Sendmail 8.17 writes it after one failed attempt (header bytes \201 included).
const std::string deferred_qf =
    "V8\n"
    "T1795825934\n"
    "K1795825937\n"
    "N2\n"
    "P120018\n"
    "I254/0/11100248\n"
    "MDeferred: Connection refused by [127.0.0.1]\n"
    "Fs\n"
    "$_localhost [127.0.0.1]\n"
    "$rESMTP\n"
    "$s[127.0.0.1]\n"
    "${daemon_flags}\n"
    "S<bouncer@sender.test>\n"
    "rRFC822; x@down.test\n"
    "RPFD:<x@down.test>\n"
    "RPF:y@Down.TEST\n"
    "H?P?Return-Path: <\201g>\n"
    "H??Received: from [127.0.0.1] (localhost [127.0.0.1])\n"
    "\tby mx.lab.test (8.17.1.9/8.17.1.9) with ESMTP id 6AS0WEnC024370\n"
    "\tfor <x@down.test>; Sat, 28 Nov 2026 00:32:14 GMT\n"
    "H??Subject: t\n"
    ".\n";

}  // namespace

BOOST_AUTO_TEST_SUITE(sendmail_queue)

BOOST_AUTO_TEST_CASE(reads_a_deferred_message) {
    const QfParseResult r = parse_sendmail_qf(deferred_qf, "6AS0WEnC024370");
    BOOST_REQUIRE_MESSAGE(r.message.has_value(), r.error);
    const QueuedMessage& m = *r.message;
    BOOST_TEST(m.queue_id == "6AS0WEnC024370");
    BOOST_TEST(m.queue_name == "deferred");
    BOOST_TEST(m.arrival_time == 1795825934);
    BOOST_TEST(m.sender == "bouncer@sender.test");
    BOOST_TEST(!m.forced_expire);
    BOOST_REQUIRE(m.recipients.size() == 2u);
    BOOST_TEST(m.recipients[0].address == "x@down.test");
    BOOST_TEST(m.recipients[1].address == "y@Down.TEST");
    BOOST_TEST(m.recipients[0].delay_reason == "Deferred: Connection refused by [127.0.0.1]");
}

BOOST_AUTO_TEST_CASE(not_yet_tried_is_incoming_and_null_sender_is_empty) {
    const QfParseResult r = parse_sendmail_qf("V8\nT100\nK0\nN0\nS<>\nR:a@b.test\n.\n", "X1");
    BOOST_REQUIRE_MESSAGE(r.message.has_value(), r.error);
    BOOST_TEST(r.message->queue_name == "incoming");
    BOOST_TEST(r.message->sender == "");
    BOOST_REQUIRE(r.message->recipients.size() == 1u);
    BOOST_TEST(r.message->recipients[0].address == "a@b.test");
    // Old format without flags.
    const QfParseResult old = parse_sendmail_qf("T100\nN1\nRa@b.test\n.\n", "X2");
    BOOST_REQUIRE(old.message.has_value());
    BOOST_TEST(old.message->recipients[0].address == "a@b.test");
}

BOOST_AUTO_TEST_CASE(broken_files_are_reported_not_guessed) {
    BOOST_TEST(parse_sendmail_qf("V8\nN1\nR:a@b.test\n.\n", "X").error == "no creation time (T line)");
    BOOST_TEST(parse_sendmail_qf("V8\nTsoon\nN1\n.\n", "X").error == "line 2: bad creation time (T)");
    BOOST_TEST(parse_sendmail_qf("V8\nT100\nN-x\n.\n", "X").error == "line 3: bad number of attempts (N)");
    BOOST_TEST(parse_sendmail_qf("V8\nT100\nN1\nR:a@b.test\n", "X").error ==
               "incomplete queue file (no final \".\" line)");
    BOOST_TEST(!parse_sendmail_qf("", "X").message.has_value());
}

BOOST_AUTO_TEST_CASE(queue_file_names) {
    BOOST_TEST(is_sendmail_qf_name("qf6AS0WEnC024370"));
    BOOST_TEST(!is_sendmail_qf_name("df6AS0WEnC024370"));
    BOOST_TEST(!is_sendmail_qf_name("tf6AS0WEnC024370"));
    BOOST_TEST(!is_sendmail_qf_name("qf"));
    BOOST_TEST(!is_sendmail_qf_name("qf6AS0WEnC024370.tmp"));
    BOOST_TEST(!is_sendmail_qf_name("hf6AS0WEnC024370"));  // quarantined
}

BOOST_AUTO_TEST_CASE(queue_directories_from_sendmail_cf) {
    const auto dirs = sendmail_queue_directories(
        "# comment\n"
        "O QueueDirectory=/srv/mqueue\n"
        "Qroute_down_test, P=/srv/mqueue/route_down_test, I=1m\n"
        "Qslow, P=/srv/mqueue/slow*, R=2\n"
        "Qnopath, I=5m\n"
        "Mesmtp, P=[IPC], F=mDFMuXa\n");
    BOOST_REQUIRE(dirs.size() == 3u);
    BOOST_TEST(dirs[0].group == "mqueue");
    BOOST_TEST(dirs[0].path == "/srv/mqueue");
    BOOST_TEST(dirs[1].group == "route_down_test");
    BOOST_TEST(dirs[1].path == "/srv/mqueue/route_down_test");
    BOOST_TEST(dirs[2].path == "/srv/mqueue/slow*");
    // Nothing set: Sendmail's default.
    const auto plain = sendmail_queue_directories("O LogLevel=9\n");
    BOOST_REQUIRE(plain.size() == 1u);
    BOOST_TEST(plain[0].path == "/var/spool/mqueue");
}

// The Sendmail reader feeds the same planner as Postfix's.
BOOST_AUTO_TEST_CASE(planner_kicks_and_expires_sendmail_messages) {
    const CompiledConfig compiled =
        compile_config_text("routes = ( { domain = \"down.test\"; retries = 1; retry_minutes = 1; } );", "retry.conf");
    BOOST_REQUIRE(compiled.config.has_value());
    const RouteTable routes(*compiled.config);
    const QfParseResult r = parse_sendmail_qf(deferred_qf, "6AS0WEnC024370");
    BOOST_REQUIRE(r.message.has_value());
    const QueueSnapshot queue{*r.message};
    const std::int64_t T = r.message->arrival_time;
    RetryPlan first = plan_retries(queue, {}, T + 61, routes);
    BOOST_REQUIRE(first.actions.size() == 1u);
    BOOST_TEST(name_of(first.actions[0].kind) == "kick");
    BOOST_TEST(first.actions[0].queue_id == "6AS0WEnC024370");
    RetryPlan second = plan_retries(queue, first.next_state, T + 125, routes);
    BOOST_REQUIRE(second.actions.size() == 1u);
    BOOST_TEST(name_of(second.actions[0].kind) == "expire");
    // Not yet tried by Sendmail: left alone.
    QueueSnapshot fresh = queue;
    fresh[0].queue_name = "incoming";
    BOOST_TEST(plan_retries(fresh, {}, T + 600, routes).actions.empty());
}

BOOST_AUTO_TEST_SUITE_END()
