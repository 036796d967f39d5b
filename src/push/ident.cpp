#include "push/ident.h"

namespace gsh {

namespace {

bool crud(unsigned char c) {
    return c <= 32 || c == ',' || c == ':' || c == ';' || c == '<' || c == '>' || c == '"' ||
           c == '\\' || c == '\'';
}

} // namespace

std::string ident_without_crud(std::string_view s) {
    // git stops at a NUL: the value is a C string there.
    s = s.substr(0, s.find('\0'));
    while (!s.empty() && crud(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && crud(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    std::string out;
    out.reserve(s.size());
    for (char c : s)
        if (c != '\n' && c != '<' && c != '>')
            out.push_back(c);
    return out;
}

} // namespace gsh
