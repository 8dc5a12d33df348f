// rendered_file.hpp - one file a generator produced, before anything is written.
//
// The Postfix and Sendmail generators return these; routectl writes them (output_files) and
// compiles the keyed tables with the MTA's own tool (postmap, makemap).
// A table with a line per listed address (a million of them) is not held as one string: its
// `generate` hands the bytes out in chunks, straight from the compact address store, each time
// it is called (output_files compares with the old file, then writes the temporary file).
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace route_milter {

// Takes the next chunk of a file's bytes; false stops the generator (the reader has seen
// enough, or a write failed).
using ChunkSink = std::function<bool(std::string_view chunk)>;

struct RenderedFile {
    std::string name;     // file name inside the output directory
    std::string content;  // the bytes, unless `generate` is set (then empty)
    unsigned mode = 0644;
    bool compile_map = false;  // a keyed table the MTA's map tool compiles (postmap, makemap)
    // Produces the bytes instead of `content`, in order, the same on every call; returns false
    // when the sink stopped it. It reads the Config the file was rendered from: that must outlive it.
    std::function<bool(const ChunkSink&)> generate = {};
};

// Hands the file's bytes to `sink` in order; false when the sink stopped early.
inline bool stream_content(const RenderedFile& file, const ChunkSink& sink) {
    if (file.generate) return file.generate(sink);
    return file.content.empty() || sink(file.content);
}

// `text` kept on one line, for a comment in a generated file or a message naming a value: a
// backslash as \\, a line break, tab or other control character as \n, \t, \xNN, so that
// nothing it holds can start a line of its own.
inline std::string one_line(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c < 0x20 || c == 0x7f) out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
        else out += ch;
    }
    return out;
}

// The whole content as one string (small files, tests).
inline std::string content_of(const RenderedFile& file) {
    if (!file.generate) return file.content;
    std::string out;
    stream_content(file, [&out](std::string_view chunk) {
        out += chunk;
        return true;
    });
    return out;
}

}  // namespace route_milter
