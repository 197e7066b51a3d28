// Runs the native test programs (op table, kernels, samplers, RNG, safetensors, parity, adapters).
// They are built here with CMake into build-native/tests (incrementally), never by the package's install.
import { nativeSuites } from './suites.js';

nativeSuites('native', 'tests', []);
