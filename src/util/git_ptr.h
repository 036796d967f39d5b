// RAII ownership of libgit2 objects.
#pragma once

#include <git2.h>

#include <memory>
#include <string>

#include "util/error.h"

namespace gsh {

template <typename T, void (*Free)(T *)> struct GitDeleter {
    void operator()(T *p) const { Free(p); }
};

template <typename T, void (*Free)(T *)> using GitPtr = std::unique_ptr<T, GitDeleter<T, Free>>;

using RepoPtr = GitPtr<git_repository, git_repository_free>;
using OdbPtr = GitPtr<git_odb, git_odb_free>;
using OdbObjectPtr = GitPtr<git_odb_object, git_odb_object_free>;
using ObjectPtr = GitPtr<git_object, git_object_free>;
using CommitPtr = GitPtr<git_commit, git_commit_free>;
using TreePtr = GitPtr<git_tree, git_tree_free>;
using TagPtr = GitPtr<git_tag, git_tag_free>;
using RefPtr = GitPtr<git_reference, git_reference_free>;
using RefIterPtr = GitPtr<git_reference_iterator, git_reference_iterator_free>;
using RevwalkPtr = GitPtr<git_revwalk, git_revwalk_free>;
using ConfigPtr = GitPtr<git_config, git_config_free>;

// Throws gsh::Error carrying libgit2's last message when rc < 0.
inline void git_check(int rc, const char *what) {
    if (rc < 0) {
        const git_error *e = git_error_last();
        throw Error(std::string(what) + ": " + (e && e->message ? e->message : "libgit2 error"));
    }
}

} // namespace gsh
