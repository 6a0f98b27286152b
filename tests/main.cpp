// The one translation unit that defines the Boost.Test module; every other tests/*.cpp only adds cases.
#define BOOST_TEST_MODULE moelab
#include <boost/test/unit_test.hpp>
