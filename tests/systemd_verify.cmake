# systemd-analyze verify on the units, with ExecStart pointing at the binaries just built.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
foreach(unit tvd.service tvd-nightly.service tvd-nightly.timer)
  file(READ "${SRC}/systemd/${unit}" text)
  string(REPLACE "/usr/bin/tvd " "${TVD} " text "${text}")
  string(REPLACE "/usr/bin/tvctl " "${TVCTL} " text "${text}")
  file(WRITE "${WORK}/${unit}" "${text}")
endforeach()
execute_process(COMMAND systemd-analyze verify --man=no
                  ${WORK}/tvd.service ${WORK}/tvd-nightly.service ${WORK}/tvd-nightly.timer
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
# Only problems with our units count; systemd may also grumble about the host's own units.
string(REGEX MATCHALL "[^\n]*tvd[^\n]*" ours "${out}${err}")
if(NOT rc EQUAL 0 OR ours)
  message(FATAL_ERROR "systemd-analyze verify (${rc}):\n${out}${err}")
endif()
message(STATUS "3 units verified")
