// git's lock files and temporary files (lockfile.c, tempfile.c): a file made
// with O_CREAT|O_EXCL next to the one it stands for, which is either renamed
// over that file (commit) or removed (rollback, and on destruction). Whoever
// made the file owns it; a lock that exists already belongs to someone else
// and is never touched.
#pragma once

#include <string>
#include <string_view>

namespace gsh {

class LockFile {
  public:
    LockFile() = default;
    ~LockFile() { rollback(); }
    LockFile(LockFile &&other) noexcept;
    LockFile &operator=(LockFile &&other) noexcept;
    LockFile(const LockFile &) = delete;
    LockFile &operator=(const LockFile &) = delete;

    // Creates target + ".lock". While it exists, tries again with git's
    // backoff (about 1, 4, 9, ... ms, randomised by a quarter) until
    // timeout_ms have been slept: 0 tries once, a negative value forever.
    // false with errno set when it could not (EEXIST: someone holds it).
    bool lock(const std::string &target, long timeout_ms);

    // Creates path itself, once (a tempfile such as packed-refs.new).
    bool create(const std::string &path);

    // Writes data, fsyncs when asked, and closes. false with errno set.
    bool write_and_close(std::string_view data, bool fsync);
    // Closes the descriptor; the file stays held.
    bool close();

    // Renames the file over dest. On failure the file is removed (as git's
    // rename_tempfile does) and errno says why.
    bool commit(const std::string &dest);
    // Removes the file when still held.
    void rollback();

    bool held() const { return !path_.empty(); }
    // The held file's path ("" when none).
    const std::string &path() const { return path_; }

  private:
    std::string path_;
    int fd_ = -1;
};

// Writes all of data to fd, through EINTR and short writes; false with errno
// set when a write fails.
bool write_all(int fd, std::string_view data);

// git's unable_to_lock_message(): why the lock for path (shown as given)
// could not be taken.
std::string unable_to_lock_message(const std::string &shown_path, int err);

} // namespace gsh
