# Builds the .deb and checks it: its files, its maintainer scripts' rules, lintian (no errors)
# and the scripts run by the real dpkg in a scratch root (deb_scripts_check.sh).
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND cpack -G DEB -B ${OUT} --config ${BUILD}/CPackConfig.cmake
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
file(GLOB debs "${OUT}/*.deb")
if(NOT rc EQUAL 0 OR NOT debs)
  message(FATAL_ERROR "cpack failed (${rc}): ${err}")
endif()
execute_process(COMMAND dpkg-deb -c ${debs} OUTPUT_VARIABLE files)
foreach(f ./usr/bin/tvd ./usr/bin/tvctl ./usr/lib/tvd/tvd-run ./usr/lib/systemd/system/tvd.service
          ./usr/lib/systemd/system/tvd-nightly.timer ./usr/lib/sysusers.d/tvd.conf
          ./usr/share/tvd/matrix.json ./usr/share/tvd/examples/tvd.json
          ./usr/share/man/man1/tvd.1.gz ./usr/share/man/man1/tvctl.1.gz
          ./usr/share/doc/tvd/copyright ./usr/share/doc/tvd/changelog.gz)
  string(FIND "${files}" "${f}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the package lacks ${f}:\n${files}")
  endif()
endforeach()
# Dependencies computed from the binaries (dpkg-shlibdeps), the C++ runtime among them.
execute_process(COMMAND dpkg-deb -f ${debs} Depends OUTPUT_VARIABLE depends)
if(NOT depends MATCHES "libc6" OR NOT depends MATCHES "libstdc\\+\\+6" OR NOT depends MATCHES "libsqlite3")
  message(FATAL_ERROR "the dependencies are not computed from the binaries: ${depends}")
endif()
execute_process(COMMAND dpkg-deb -I ${debs} postinst OUTPUT_VARIABLE postinst)
if(NOT postinst MATCHES "systemd-sysusers" OR NOT postinst MATCHES "deb-systemd-helper enable tvd-nightly.timer"
   OR postinst MATCHES "\n[ ]*(systemctl|deb-systemd-invoke) start"
   OR postinst MATCHES "\n[ ]*systemctl enable --now")
  message(FATAL_ERROR "the postinst must create the user and enable the timer through deb-systemd-helper, starting nothing:\n${postinst}")
endif()
find_program(LINTIAN lintian)
if(LINTIAN)
  execute_process(COMMAND ${LINTIAN} --no-tag-display-limit ${debs}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE said ERROR_VARIABLE err)
  if(said MATCHES "(^|\n)E: ")
    message(FATAL_ERROR "lintian finds errors:\n${said}${err}")
  endif()
  message(STATUS "lintian: no errors\n${said}")
else()
  message(STATUS "lintian is not installed (scripts/deps.sh --test installs it): not run")
endif()
execute_process(COMMAND id -u OUTPUT_VARIABLE uid OUTPUT_STRIP_TRAILING_WHITESPACE)
if(uid STREQUAL "0")
  execute_process(COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/deb_scripts_check.sh ${debs} ${OUT}/scratch
                  RESULT_VARIABLE rc OUTPUT_VARIABLE said ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "the maintainer scripts in a scratch root:\n${said}${err}")
  endif()
  message(STATUS "maintainer scripts in a scratch root:\n${said}")
else()
  message(STATUS "not root: the maintainer scripts are not run in a scratch root (dpkg --root needs root)")
endif()
message(STATUS "${debs} checked")
