// An owning pointer whose copy copies what it points to, so that a class
// holding optional parts by pointer can keep a defaulted copy constructor:
// one that cannot forget a member added later.
#pragma once

#include <memory>
#include <utility>

namespace gsh {

template <class T> class CopyingPtr : public std::unique_ptr<T> {
  public:
    CopyingPtr() = default;
    CopyingPtr(std::unique_ptr<T> p) noexcept : std::unique_ptr<T>(std::move(p)) {}
    CopyingPtr(const CopyingPtr &o) : std::unique_ptr<T>(o ? std::make_unique<T>(*o) : nullptr) {}
    CopyingPtr(CopyingPtr &&) noexcept = default;
    CopyingPtr &operator=(const CopyingPtr &o) {
        if (this != &o)
            this->reset(o ? new T(*o) : nullptr);
        return *this;
    }
    CopyingPtr &operator=(CopyingPtr &&) noexcept = default;
    ~CopyingPtr() = default;
};

} // namespace gsh
