/** Absolute path of sd-native-tiny.safetensors (SD 1.x single-file layout, f16). */
export declare const modelPath: string;
