# Fails if any C++ file differs from what clang-format makes of it.
file(GLOB_RECURSE sources "${ROOT}/daemon/*.cc" "${ROOT}/daemon/*.h" "${ROOT}/tests/*.cc"
     "${ROOT}/tests/*.h" "${ROOT}/config/*.h" "${ROOT}/client/*.cc" "${ROOT}/client/*.h"
     "${ROOT}/proto/*.cc" "${ROOT}/proto/*.h")
execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${sources}
                RESULT_VARIABLE rc ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "not formatted (run clang-format-14 -i on these):\n${out}")
endif()
list(LENGTH sources n)
message(STATUS "${n} files formatted")
