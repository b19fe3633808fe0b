// Nothing of its own: the target that builds the test binaries' shared
// precompiled header (tests/CMakeLists.txt, warden_test_pch).
