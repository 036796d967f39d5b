#include "util/sha1.h"

#include <openssl/evp.h>

#include "util/error.h"

namespace gsh::pack {

namespace {

// Fetched once: EVP_sha1() would be looked up again by each init in
// OpenSSL 3. Never freed, as libcrypto's own tables are not.
const EVP_MD *sha1_md() {
    static EVP_MD *const md = EVP_MD_fetch(nullptr, "SHA1", nullptr);
    if (!md)
        throw Error("libcrypto: SHA-1 is not available");
    return md;
}

} // namespace

void Sha1::CtxFree::operator()(EVP_MD_CTX *c) const {
    EVP_MD_CTX_free(c);
}

Sha1::Sha1() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_)
        throw Error("libcrypto: out of memory for a SHA-1 context");
    reset();
}

void Sha1::reset() {
    if (EVP_DigestInit_ex2(ctx_.get(), sha1_md(), nullptr) != 1)
        throw Error("libcrypto: SHA-1 init failed");
}

void Sha1::update(const void *data, size_t len) {
    if (EVP_DigestUpdate(ctx_.get(), data, len) != 1)
        throw Error("libcrypto: SHA-1 update failed");
}

Sha1::Digest Sha1::final() {
    Digest out;
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_.get(), out.data(), &len) != 1 || len != kDigestSize)
        throw Error("libcrypto: SHA-1 final failed");
    return out;
}

Sha1::Digest Sha1::of(const void *data, size_t len) {
    Sha1 s;
    s.update(data, len);
    return s.final();
}

std::string Sha1::hex(const Digest &d) {
    static const char digits[] = "0123456789abcdef";
    std::string s(2 * kDigestSize, '0');
    for (size_t i = 0; i < kDigestSize; i++) {
        s[2 * i] = digits[d[i] >> 4];
        s[2 * i + 1] = digits[d[i] & 15];
    }
    return s;
}

} // namespace gsh::pack
