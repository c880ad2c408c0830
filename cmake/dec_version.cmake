# Writes DEC_VERSION_HEADER from src/core/version.h.in with `git describe --always --dirty` of
# DEC_SOURCE_DIR ("unknown" outside a git checkout). Run at configure time and before every
# build; configure_file leaves the header untouched when the version did not change, so nothing
# recompiles then.
set(DEC_VERSION "unknown")
if(GIT_EXECUTABLE)
  execute_process(COMMAND ${GIT_EXECUTABLE} describe --always --dirty
                  WORKING_DIRECTORY ${DEC_SOURCE_DIR}
                  OUTPUT_VARIABLE DEC_GIT_DESCRIBE OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE DEC_GIT_RESULT ERROR_QUIET)
  if(DEC_GIT_RESULT EQUAL 0 AND DEC_GIT_DESCRIBE)
    set(DEC_VERSION "${DEC_GIT_DESCRIBE}")
  endif()
endif()
configure_file(${DEC_SOURCE_DIR}/src/core/version.h.in ${DEC_VERSION_HEADER} @ONLY)
