# Options.cmake - every build option of flywheel in one place.
option(FW_WERROR "Treat compiler warnings as errors" ON)
option(FW_SANITIZE "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(FW_FUZZ "Build libFuzzer targets (needs clang); replay targets are always built" OFF)
option(FW_BENCH "Build benchmarks in tests/bench" ON)
option(FW_UI "Build and embed the web UI assets" OFF)
option(FW_INTEGRATION "Register integration tests (need node, curl, h2load)" ON)
