// The same native test programs built with AddressSanitizer + UndefinedBehaviorSanitizer (every
// object, the core's kernels included) into build-native/asan: an out-of-bounds read, a use after
// free, a leak or undefined behaviour anywhere they reach fails the run.
import { nativeSuites } from './suites.js';

nativeSuites('asan+ubsan', 'asan', ['-DSD_SANITIZE=ON'], {
  ...process.env,
  ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1:strict_string_checks=1',
  UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
});
