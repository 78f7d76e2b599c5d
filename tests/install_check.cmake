# Installs into a staging prefix and checks the file list.
file(REMOVE_RECURSE "${STAGE}")
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${STAGE}
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed: ${err}")
endif()
set(expected
  bin/tvd bin/tvctl lib/tvd/tvd-run
  share/man/man1/tvd.1.gz share/man/man1/tvctl.1.gz
  share/doc/tvd/copyright share/doc/tvd/changelog.gz
  lib/systemd/system/tvd.service lib/systemd/system/tvd-nightly.service
  lib/systemd/system/tvd-nightly.timer
  lib/sysusers.d/tvd.conf lib/tmpfiles.d/tvd.conf
  share/tvd/examples/tvd.json share/doc/tvd/README.md share/doc/tvd/PROTOCOL.md
  share/doc/tvd/BENCHMARKS.md
  share/tvd/matrix.json share/tvd/templates/torchvision/gpu.nix.in share/tvd/templates/torchvision/cpu.nix.in share/tvd/templates/torchvision/gpu-paired.nix.in share/tvd/templates/torchvision/cpu-paired.nix.in share/tvd/templates/pytorch/gpu.nix.in share/tvd/templates/pytorch/cpu.nix.in)
file(GLOB_RECURSE found RELATIVE "${STAGE}" "${STAGE}/*")
list(SORT found)
list(SORT expected)
if(NOT found STREQUAL expected)
  message(FATAL_ERROR "installed:\n  ${found}\nexpected:\n  ${expected}")
endif()
# The installed example config, matrix and templates work together.
file(WRITE "${STAGE}/check.json" "{ \"matrix\": \"share/tvd/matrix.json\", \"templates\": \"share/tvd/templates/torchvision\", \"flox_env\": \".\" }")
execute_process(COMMAND ${STAGE}/bin/tvd matrix --config ${STAGE}/check.json
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "60 cells: 42 buildable")
  message(FATAL_ERROR "the installed tvd cannot read the installed matrix: ${err}")
endif()
list(LENGTH found n)
message(STATUS "${n} files installed as expected")
