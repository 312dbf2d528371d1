#include "meridian_crypto.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

int meridian_sha512(const unsigned char *first, size_t first_length,
                    const unsigned char *second, size_t second_length, unsigned char *digest) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) return 0;
    unsigned int length = 0;
    int ok = EVP_DigestInit_ex(context, EVP_sha512(), NULL) == 1
        && EVP_DigestUpdate(context, first, first_length) == 1
        && EVP_DigestUpdate(context, second, second_length) == 1
        && EVP_DigestFinal_ex(context, digest, &length) == 1
        && length == 64;
    EVP_MD_CTX_free(context);
    return ok;
}

int meridian_pbkdf2_sha512(const unsigned char *password, size_t password_length,
                           const unsigned char *salt, size_t salt_length, int iterations,
                           unsigned char *output, size_t output_length) {
    if (password_length > INT_MAX || salt_length > INT_MAX || output_length > INT_MAX) return 0;
    return PKCS5_PBKDF2_HMAC((const char *)password, (int)password_length, salt, (int)salt_length,
                             iterations, EVP_sha512(), (int)output_length, output) == 1;
}

int meridian_memcmp(const void *a, const void *b, size_t length) {
    return CRYPTO_memcmp(a, b, length);
}

int meridian_base64_decode_block(unsigned char *output, const unsigned char *input, int input_length) {
    return EVP_DecodeBlock(output, input, input_length);
}
