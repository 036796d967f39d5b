#include "repo/packed_refs.h"
#include "util/oid_hex.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

#include "util/git_ptr.h"

namespace gsh {

namespace {

constexpr size_t kHexLen = GIT_OID_HEXSZ;

// git's die_unterminated_line() / die_invalid_line() texts.
std::string unterminated(const std::string &path, std::string_view rest) {
    if (rest.size() < 80)
        return "unterminated line in " + path + ": " + std::string(rest);
    return "unterminated line in " + path + ": " + std::string(rest.substr(0, 75)) + "...";
}

std::string invalid(const std::string &path, std::string_view rest) {
    const size_t eol = rest.find('\n');
    if (eol == std::string_view::npos)
        return unterminated(path, rest);
    if (eol < 80)
        return "unexpected line in " + path + ": " + std::string(rest.substr(0, eol));
    return "unexpected line in " + path + ": " + std::string(rest.substr(0, 75)) + "...";
}

bool parse_hex(std::string_view s, git_oid &out) {
    if (s.size() < kHexLen)
        return false;
    for (size_t i = 0; i < kHexLen; i++)
        if (!std::isxdigit(static_cast<unsigned char>(s[i])))
            return false;
    return git_oid_fromstrn(&out, s.data(), kHexLen) == 0;
}

// The value after "<key> " in a tag's header lines.
std::string_view header_value(std::string_view object, std::string_view key) {
    size_t pos = 0;
    while (pos < object.size()) {
        const size_t eol = object.find('\n', pos);
        const std::string_view line =
            object.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
        if (line.empty())
            break; // end of the header
        if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ')
            return line.substr(key.size() + 1);
        if (eol == std::string_view::npos)
            break;
        pos = eol + 1;
    }
    return {};
}

} // namespace

// git's peel_object(): the first object that is not a tag along id's tag
// chain, each tag read for its "object" and "type" lines. false when id is
// no tag, or a tag of the chain cannot be read.
bool peel_tag(git_odb *odb, const git_oid &id, git_oid &out) {
    if (!odb)
        return false;
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    if (git_odb_read_header(&len, &type, odb, &id) < 0) {
        git_error_clear();
        return false;
    }
    if (type != GIT_OBJECT_TAG)
        return false;
    git_oid current = id;
    for (int depth = 0; type == GIT_OBJECT_TAG; depth++) {
        git_odb_object *raw = nullptr;
        if (depth > 1000 || git_odb_read(&raw, odb, &current) < 0) {
            git_error_clear();
            return false;
        }
        OdbObjectPtr tag(raw);
        if (git_odb_object_type(tag.get()) != GIT_OBJECT_TAG)
            return false;
        const std::string_view text(static_cast<const char *>(git_odb_object_data(tag.get())),
                                    git_odb_object_size(tag.get()));
        const std::string_view target = header_value(text, "object");
        const std::string type_name(header_value(text, "type"));
        if (!parse_hex(target, current) || target.size() != kHexLen)
            return false;
        type = git_object_string2type(type_name.c_str());
        if (type == GIT_OBJECT_INVALID)
            return false;
    }
    out = current;
    return true;
}

std::optional<PackedRefs> PackedRefs::parse(std::string_view text, const std::string &shown_path,
                                            std::string &error) {
    enum { None, Tags, Fully } peeled = None;
    bool sorted = false;
    std::string_view body = text;
    if (!body.empty() && body[0] == '#') {
        const size_t eol = body.find('\n');
        if (eol == std::string_view::npos) {
            error = unterminated(shown_path, body);
            return std::nullopt;
        }
        std::string_view header = body.substr(0, eol);
        constexpr std::string_view kPrefix = "# pack-refs with:";
        if (!header.starts_with(kPrefix)) {
            error = invalid(shown_path, body);
            return std::nullopt;
        }
        header.remove_prefix(kPrefix.size());
        bool fully = false, tags = false;
        while (!header.empty()) {
            const size_t sp = header.find(' ');
            const std::string_view trait = header.substr(0, sp);
            fully |= trait == "fully-peeled";
            tags |= trait == "peeled";
            sorted |= trait == "sorted";
            if (sp == std::string_view::npos)
                break;
            header.remove_prefix(sp + 1);
        }
        peeled = fully ? Fully : tags ? Tags : None;
        body.remove_prefix(eol + 1);
    }
    if (!body.empty() && body.back() != '\n') {
        const size_t last = body.rfind('\n', body.size() - 1);
        error =
            unterminated(shown_path, body.substr(last == std::string_view::npos ? 0 : last + 1));
        return std::nullopt;
    }

    PackedRefs out;
    while (!body.empty()) {
        PackedRef ref;
        if (body.size() < kHexLen + 2 || !parse_hex(body, ref.id) ||
            !std::isspace(static_cast<unsigned char>(body[kHexLen]))) {
            error = invalid(shown_path, body);
            return std::nullopt;
        }
        const size_t eol = body.find('\n', kHexLen + 1);
        if (eol == std::string_view::npos) {
            error = unterminated(shown_path, body);
            return std::nullopt;
        }
        ref.name = std::string(body.substr(kHexLen + 1, eol - kHexLen - 1));
        ref.peel_known = peeled == Fully || (peeled == Tags && ref.name.starts_with("refs/tags/"));
        body.remove_prefix(eol + 1);
        if (!body.empty() && body[0] == '^') {
            if (body.size() < kHexLen + 2 || !parse_hex(body.substr(1), ref.peeled) ||
                body[kHexLen + 1] != '\n') {
                error = invalid(shown_path, body);
                return std::nullopt;
            }
            ref.peel_known = true;
            body.remove_prefix(kHexLen + 2);
        }
        out.refs_.push_back(std::move(ref));
    }
    if (!sorted)
        std::stable_sort(out.refs_.begin(), out.refs_.end(),
                         [](const PackedRef &a, const PackedRef &b) { return a.name < b.name; });
    return out;
}

std::optional<PackedRefs> PackedRefs::read(const std::string &path, const std::string &shown_path,
                                           std::string &error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return PackedRefs{};
        error = "couldn't read " + shown_path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text;
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            error = "couldn't read " + shown_path + ": " + std::strerror(errno);
            ::close(fd);
            return std::nullopt;
        }
        if (n == 0)
            break;
        text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return parse(text, shown_path, error);
}

// refs_ is in refname order (sorted at parse unless the file says it is), so
// a look-up is a binary search as git's: listing 50,000 refs looks up each.
const PackedRef *PackedRefs::first_not_before(std::string_view name) const {
    const auto it =
        std::lower_bound(refs_.begin(), refs_.end(), name,
                         [](const PackedRef &r, std::string_view n) { return r.name < n; });
    return it == refs_.end() ? nullptr : &*it;
}

const PackedRef *PackedRefs::find(std::string_view name) const {
    const PackedRef *r = first_not_before(name);
    return r && r->name == name ? r : nullptr;
}

const PackedRef *PackedRefs::first_with_prefix(std::string_view prefix) const {
    const PackedRef *r = first_not_before(prefix);
    return r && std::string_view(r->name).starts_with(prefix) ? r : nullptr;
}

std::string PackedRefs::without(const std::vector<std::string> &drop, git_odb *odb) const {
    std::string out = "# pack-refs with: peeled fully-peeled sorted \n";
    // write_with_updates(): the old refs and the deletions merged in
    // refname order; a deletion takes out the record it meets.
    size_t i = 0;
    for (auto it = refs_.begin(); it != refs_.end(); ++it) {
        while (i < drop.size() && drop[i] < it->name)
            i++;
        if (i < drop.size() && drop[i] == it->name) {
            i++;
            continue;
        }
        out += oid_hex(it->id) + " " + it->name + "\n";
        git_oid peeled{};
        const bool has_peeled =
            it->peel_known ? !git_oid_is_zero(&it->peeled) : peel_tag(odb, it->id, peeled);
        if (has_peeled)
            out += "^" + oid_hex(it->peel_known ? it->peeled : peeled) + "\n";
    }
    return out;
}

} // namespace gsh
