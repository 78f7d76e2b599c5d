// Boost.Process v2 in Boost 1.81 is not header-only in practice: its .ipp implementations are
// compiled here, once, with BOOST_PROCESS_V2_SEPARATE_COMPILATION set for every user (see
// daemon/CMakeLists.txt).
#include <boost/process/v2/src.hpp>
