// Checking build only (METACAT_SANITIZE): shared libraries are never
// unloaded, so that LeakSanitizer can name the library that allocated the
// memory it reports. Open MPI unloads its components in MPI_Finalize; their
// allocations would show as "<unknown module>", which no suppression in
// tests/sanitizers/lsan.supp can match without also hiding metacat's own.
extern "C" int dlclose(void*) { return 0; }
