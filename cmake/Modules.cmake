# Modules.cmake - helpers that give every flywheel target the same shape:
# one static library per module, one warning list, one test registration.

set(FW_WARNINGS -Wall -Wextra -Wshadow -Wconversion -Wmissing-prototypes -Wundef
    -Wwrite-strings -Wstrict-prototypes -Wformat=2 -Wno-sign-conversion)
if(FW_WERROR)
  list(APPEND FW_WARNINGS -Werror)
endif()

function(fw_target_warnings target)
  target_compile_options(${target} PRIVATE ${FW_WARNINGS})
endfunction()

# fw_add_module(name SOURCES a.c b.c DEPS fw_x PkgConfig::Y)
function(fw_add_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                     PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${M_DEPS})
  fw_target_warnings(${name})
endfunction()

# fw_add_unit_test(name SOURCES test_x.c DEPS fw_x)
function(fw_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_DEPS} PkgConfig::CMOCKA)
  target_compile_definitions(${name} PRIVATE FW_TESTING=1)
  fw_target_warnings(${name})
  add_test(NAME unit.${name} COMMAND ${name})
  set_tests_properties(unit.${name} PROPERTIES LABELS unit TIMEOUT 120)
endfunction()

# fw_add_fuzz_target(name SOURCES fuzz_x.c DEPS fw_x)
# Always builds a replay binary that runs every file of tests/fuzz/corpus/<name>
# through the entry point (so ctest exercises the corpus under gcc and the
# sanitizers); with FW_FUZZ it also builds the libFuzzer binary.
function(fw_add_fuzz_target name)
  cmake_parse_arguments(F "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name}_replay ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(${name}_replay PRIVATE ${F_DEPS})
  fw_target_warnings(${name}_replay)
  add_test(NAME fuzz.${name} COMMAND ${name}_replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
  set_tests_properties(fuzz.${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  if(FW_FUZZ)
    add_executable(${name} ${F_SOURCES})
    target_link_libraries(${name} PRIVATE ${F_DEPS})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
endfunction()
