# Builds the .deb and checks its files and its postinst.
file(REMOVE_RECURSE "${OUT}")
execute_process(COMMAND cpack -G DEB -B ${OUT} --config ${BUILD}/CPackConfig.cmake
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
file(GLOB debs "${OUT}/*.deb")
if(NOT rc EQUAL 0 OR NOT debs)
  message(FATAL_ERROR "cpack failed (${rc}): ${err}")
endif()
execute_process(COMMAND dpkg-deb -c ${debs} OUTPUT_VARIABLE files)
foreach(f ./usr/bin/tvd ./usr/bin/tvctl ./usr/lib/systemd/system/tvd.service
          ./usr/lib/systemd/system/tvd-nightly.timer ./usr/lib/sysusers.d/tvd.conf
          ./usr/share/tvd/matrix.json ./usr/share/doc/tvd/examples/tvd.json)
  string(FIND "${files}" "${f}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the package lacks ${f}:\n${files}")
  endif()
endforeach()
execute_process(COMMAND dpkg-deb -I ${debs} postinst OUTPUT_VARIABLE postinst)
if(NOT postinst MATCHES "systemd-sysusers tvd.conf" OR NOT postinst MATCHES "enable tvd-nightly.timer"
   OR postinst MATCHES "systemctl start" OR postinst MATCHES "enable --now")
  message(FATAL_ERROR "the postinst must create the user and enable the timer, starting nothing:\n${postinst}")
endif()
message(STATUS "${debs} checked")
