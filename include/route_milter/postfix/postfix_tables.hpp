// postfix_tables.hpp - writes a Postfix cdb or lmdb table from its text, as postmap would, in linear time.
//
// write_postfix_table(type, source, path, utf8, warnings)
//   Reads the table's text file `source` the way postmap does (postmap_reading.hpp: the same
//   entries, keys folded as Postfix looks them up; utf8 is the smtputf8_enable of that Postfix)
//   and writes the indexed table to `path`, a file it creates (mode 0600 until the caller gives
//   it its own; never an existing file):
//     cdb   tinycdb, keys and values without a trailing NUL (postmap's choice for cdb);
//     lmdb  the unnamed database in the file itself (MDB_NOSUBDIR, no lock file: Postfix opens
//           it so, MDB_NOLOCK), keys and values with a trailing NUL as postmap writes them.
//   Postfix's readers try both NUL conventions. A key given twice (after folding) keeps its
//   first value, as postmap does after its "duplicate entry" warning. The text comes in key
//   order, so a key is looked for in the table only when it sorts at or before the last one:
//   linear, where postmap's checked insert into a cdb is quadratic.
//   Nothing is synced: the caller fsyncs the file before it renames it into place.
// DIAGNOSTICS
//   "" on success, else what failed (the path and errno, or the library's message, an lmdb key
//   of more than 510 bytes: 511 with its NUL); `path` is then removed. warnings receives "line N: ..." for each
//   line postmap would skip or each duplicate it would warn about.
#pragma once

#include "route_milter/postfix/postfix_maps.hpp"

#include <string>
#include <vector>

namespace route_milter {

std::string write_postfix_table(PostfixTableType type, const std::string& source, const std::string& path, bool utf8,
                                std::vector<std::string>& warnings);

}  // namespace route_milter
