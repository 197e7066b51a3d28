// Prints one group of native/sources.json for binding.gyp's command expansions (gyp cannot read
// JSON itself, and a shell `find` would not run everywhere node-gyp does).
//   node native/sources.cjs core | addon | isa <arch> <name> sources|flags
'use strict';
const sources = require('./sources.json');

const [group, arch, name, field] = process.argv.slice(2);
let list;
if (group === 'isa') {
  const entry = (sources.isa[arch] || {})[name];
  list = entry ? entry[field] : [];
} else {
  list = sources[group];
}
if (!Array.isArray(list)) {
  process.stderr.write(`native/sources.cjs: no list for ${process.argv.slice(2).join(' ')}\n`);
  process.exit(1);
}
process.stdout.write(list.join(' '));
