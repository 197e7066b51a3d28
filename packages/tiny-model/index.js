// The path of the model file. Packed, the file sits next to this one; in a clone of the
// repository this folder is an npm workspace and the file is the one train/ writes to models/.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const FILE = 'sd-native-tiny.safetensors';
const packed = join(__dirname, FILE);

exports.modelPath = existsSync(packed) ? packed : join(__dirname, '..', '..', 'models', FILE);
