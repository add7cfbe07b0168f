// The frame every ttap HTML page shares (the report, the diff, the several-runs page): the head
// with its Content-Security-Policy, the common stylesheet and the error recorder, and the closing
// script that checks the page's plots rendered (what the headless-browser tests read back).
#pragma once

#include <initializer_list>
#include <string>

namespace ttap::report {

// "<!DOCTYPE html>" up to and including "<body ...>": nothing may be fetched (default-src 'none',
// inline style and script only), the common stylesheet followed by `extra_style`, and a script,
// first in the page, that records any later script error for the closing check. `title` is
// escaped here; `body_attributes` (after data-render="pending") is written as given.
std::string html_page_head(const std::string &generator, const std::string &title,
                           const char *extra_style, const std::string &body_attributes = "");

// The closing check and "</body></html>": each id in `plot_ids` must be an SVG element that lays
// out to a nonzero box; <body data-render> becomes "ok" or the problems found (script errors
// first).
std::string html_page_end(std::initializer_list<const char *> plot_ids);

}  // namespace ttap::report
