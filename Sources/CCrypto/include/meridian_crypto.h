#ifndef MERIDIAN_CRYPTO_H
#define MERIDIAN_CRYPTO_H

#include <stddef.h>

/* The few libcrypto (OpenSSL) calls password files need, behind functions of our own: this header
 * declares no OpenSSL type, so Swift modules that also see NIOSSL's BoringSSL headers never meet
 * two definitions of the same OpenSSL structures. Each returns 1 on success, 0 on failure. */

/* SHA-512 of `first` followed by `second` (64 bytes into `digest`). */
int meridian_sha512(const unsigned char *first, size_t first_length,
                    const unsigned char *second, size_t second_length, unsigned char *digest);

/* PBKDF2-HMAC-SHA512 of `password` and `salt`, `output_length` bytes into `output`. */
int meridian_pbkdf2_sha512(const unsigned char *password, size_t password_length,
                           const unsigned char *salt, size_t salt_length, int iterations,
                           unsigned char *output, size_t output_length);

/* Constant-time comparison: 0 when the `length` bytes are equal. */
int meridian_memcmp(const void *a, const void *b, size_t length);

/* Standard base64 of whole 4-character groups into `output`; the number of bytes written (padding
 * counted as zero bytes), or -1 if the input is not base64. */
int meridian_base64_decode_block(unsigned char *output, const unsigned char *input, int input_length);

#endif
