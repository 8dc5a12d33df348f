#define BOOST_TEST_MODULE route_milter_unit
#define BOOST_TEST_DYN_LINK
#include <boost/test/unit_test.hpp>
