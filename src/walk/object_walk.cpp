#include "walk/object_walk.h"

#include "walk/commit_memo.h"

namespace gsh::pack {

namespace {

// Parses "<key> <hex>\n" at p (within end); advances p past the line.
bool parse_oid_line(const char *&p, const char *end, const char *key, git_oid *out) {
    const size_t klen = std::strlen(key);
    if (size_t(end - p) < klen + 1 + GIT_OID_HEXSZ + 1 || std::memcmp(p, key, klen) != 0 ||
        p[klen] != ' ' || p[klen + 1 + GIT_OID_HEXSZ] != '\n')
        return false;
    if (git_oid_fromstrn(out, p + klen + 1, GIT_OID_HEXSZ) < 0)
        return false;
    p += klen + 1 + GIT_OID_HEXSZ + 1;
    return true;
}

OdbPtr open_odb(git_repository *repo) {
    git_odb *odb = nullptr;
    git_check(git_repository_odb(&odb, repo), "opening the object database");
    return OdbPtr(odb);
}

} // namespace

const CommitGraph *usable_commit_graph(git_repository *repo, const PackSet &packs) {
    return commit_graph_allowed(repo) ? packs.commit_graph() : nullptr;
}

ObjectParser::ObjectParser(git_repository *repo, const PackSet &packs)
    : odb_(open_odb(repo)), reader_(repo, packs), graph_(usable_commit_graph(repo, packs)),
      commits_(packs.memo<CommitMemo>()) {}

ObjectReader::Object ObjectParser::read(const git_oid &oid, git_object_t expect, size_t limit) {
    ObjectReader::Object obj = reader_.read(oid, limit);
    if (obj.type != expect)
        throw Error("object " + oid_hex(oid) + " is a " + git_object_type2string(obj.type) +
                    ", expected a " + git_object_type2string(expect));
    return obj;
}

std::pair<git_object_t, size_t> ObjectParser::header_of(const git_oid &oid) const {
    size_t len;
    git_object_t type;
    if (git_odb_read_header(&len, &type, odb_.get(), &oid) < 0)
        throw Error("reading object " + oid_hex(oid) + ": " +
                    (git_error_last() && git_error_last()->message ? git_error_last()->message
                                                                   : "libgit2 error"));
    return {type, len};
}

git_object_t ObjectParser::type_of(const git_oid &oid) const {
    return header_of(oid).first;
}

size_t ObjectParser::size_of(const git_oid &oid) const {
    return header_of(oid).second;
}

void ObjectParser::parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents) {
    parse_commit_prefix(oid, tree, parents, nullptr);
}

namespace {

// The committer date after the parent lines at p, as git 2.39's
// parse_commit_date() finds it: the author line, then the committer line,
// whose first '>' the date follows.
int64_t commit_date(const char *p, const char *end) {
    if (end - p <= 6 || std::memcmp(p, "author", 6) != 0)
        return 0;
    const char *nl = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
    if (!nl)
        return 0;
    p = nl + 1;
    if (end - p <= 9 || std::memcmp(p, "committer", 9) != 0)
        return 0;
    const char *gt = static_cast<const char *>(std::memchr(p, '>', size_t(end - p)));
    if (!gt)
        return 0;
    p = gt + 1;
    nl = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
    if (!nl)
        return 0;
    while (p < nl && (*p == ' ' || *p == '\t'))
        p++;
    uint64_t v = 0;
    for (; p < nl && *p >= '0' && *p <= '9'; p++) {
        if (v > (uint64_t(INT64_MAX) - 9) / 10)
            return INT64_MAX;
        v = v * 10 + uint64_t(*p - '0');
    }
    return int64_t(v);
}

} // namespace

void ObjectParser::parse_commit(const git_oid &oid, git_oid *tree, std::vector<git_oid> *parents,
                                int64_t *date) {
    parse_commit_prefix(oid, tree, parents, date);
}

void ObjectParser::parse_commit_prefix(const git_oid &oid, git_oid *tree,
                                       std::vector<git_oid> *parents, int64_t *date) {
    uint32_t pos;
    if (graph_ && graph_->find(oid, &pos) && graph_->commit(pos, tree, parents, date))
        return;
    if (commits_.find(oid, tree, parents, date))
        return;
    read_commit_prefix(oid, tree, parents, date);
    commits_.keep(oid, *tree, *parents, date);
}

void ObjectParser::read_commit_prefix(const git_oid &oid, git_oid *tree,
                                      std::vector<git_oid> *parents, int64_t *date) {
    // The tree line and 4 parent lines; with the date, author and committer too.
    const size_t prefix = date ? 1024 : 256;
    size_t limit = prefix;
    for (;;) {
        ObjectReader::Object obj = read(oid, GIT_OBJECT_COMMIT, limit);
        const char *p = reinterpret_cast<const char *>(obj.data);
        const char *end = p + obj.size;
        if (!parse_oid_line(p, end, "tree", tree))
            throw Error("corrupt commit " + oid_hex(oid));
        parents->clear();
        git_oid parent;
        while (parse_oid_line(p, end, "parent", &parent))
            parents->push_back(parent);
        if (date) {
            *date = commit_date(p, end);
            if (obj.size < limit || *date != 0)
                return;
        } else if (obj.size < limit || size_t(end - p) > 7 + GIT_OID_HEXSZ + 1) {
            return;
        }
        limit = SIZE_MAX; // cut inside the lines wanted
    }
}

git_object_t ObjectParser::parse_tag(const git_oid &oid, git_oid *target) {
    ObjectReader::Object obj = read(oid, GIT_OBJECT_TAG);
    const char *p = reinterpret_cast<const char *>(obj.data);
    const char *end = p + obj.size;
    if (!parse_oid_line(p, end, "object", target) || end - p < 5 || std::memcmp(p, "type ", 5) != 0)
        throw Error("corrupt tag " + oid_hex(oid));
    p += 5;
    const char *nl = static_cast<const char *>(std::memchr(p, '\n', size_t(end - p)));
    if (!nl)
        throw Error("corrupt tag " + oid_hex(oid));
    git_object_t t = git_object_string2type(std::string(p, nl).c_str());
    if (t != GIT_OBJECT_COMMIT && t != GIT_OBJECT_TREE && t != GIT_OBJECT_BLOB &&
        t != GIT_OBJECT_TAG)
        throw Error("corrupt tag " + oid_hex(oid));
    return t;
}

} // namespace gsh::pack
