// Static file responses: serve_file / serve_dir (spec §6.6, §8.4).
// Decides the whole response from the request and the file system; the loop then
// queues `head` + `body` and streams [file_offset, file_offset+file_length) of `fd`.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "mg/http_parser.hpp"

namespace mg::http {

// `fd` is set only when there are bytes to stream (not for HEAD, 304, 416, empty files or
// in-memory bodies); it is opened O_CLOEXEC and the caller owns it. For HEAD, `head` is the
// same as for GET (Content-Length included) and both `body` and `fd` are empty.
struct FileResponse {
  int status = 0;
  std::string head;        // status line + headers + empty line, ready to send
  std::string body;        // in-memory body (404 text, listing HTML, ...); empty if none
  int fd = -1;             // open file to stream (caller closes), -1 if none
  uint64_t file_offset = 0;
  uint64_t file_length = 0;
};

enum class ServeError : uint8_t { None, BadExtraHeaders };

// `extra_headers`: zero or more "Name: value\r\n" lines; a missing final CRLF is added;
// a blank line, bare CR/LF or NUL -> BadExtraHeaders (caller raises ValueError).
ServeError serve_file(const Request& req, std::string_view path, std::string_view extra_headers,
                      std::string_view mime_types, FileResponse& out);

// `root_spec`: a directory, or "uri_prefix=dir,..." (an entry without '=' maps "/").
// Traversal in the URI is rejected (400) before any file system access; every file or
// directory opened must also resolve (symlinks followed) inside realpath() of the mapped
// directory, otherwise it is treated as missing. `page404` is served with status 200.
ServeError serve_dir(const Request& req, std::string_view root_spec, std::string_view extra_headers,
                     std::string_view mime_types, std::string_view page404, size_t max_path,
                     FileResponse& out);

// MIME type for a file name per spec §6.6 with optional "ext=type,..." overrides.
std::string_view mime_type_for(std::string_view filename, std::string_view overrides);

}  // namespace mg::http
