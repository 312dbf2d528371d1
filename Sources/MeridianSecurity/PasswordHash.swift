internal import CCrypto

/// One password hash of a Mosquitto password file, in the two formats `mosquitto_passwd` writes:
///
/// - `$6$<base64 salt>$<base64 hash>`: SHA-512 of the password followed by the salt
///   (`mosquitto_passwd -H sha512`, the default up to mosquitto 1.6);
/// - `$7$<iterations>$<base64 salt>$<base64 hash>`: PBKDF2-HMAC-SHA512 of the password with the
///   salt (the default since mosquitto 2.0).
///
/// The hashing is OpenSSL's libcrypto (`EVP_Digest`, `PKCS5_PBKDF2_HMAC`, through `CCrypto`); the
/// comparison is constant-time (`CRYPTO_memcmp`).
public enum PasswordHash: Equatable, Sendable {
    case sha512(salt: [UInt8], hash: [UInt8])
    case pbkdf2SHA512(iterations: Int, salt: [UInt8], hash: [UInt8])

    /// The largest PBKDF2 iteration count accepted: verification runs on an event loop.
    public static let maximumIterations = 1_000_000

    /// Reads a hash as written in a password file; nil with a reason when it is not one of the
    /// two formats.
    public static func parse(_ text: Substring) -> Result<PasswordHash, ParseError> {
        let fields = text.split(separator: "$", omittingEmptySubsequences: false)
        guard fields.count >= 4, fields[0].isEmpty else { return .failure(.unknownFormat) }
        switch fields[1] {
        case "6":
            guard fields.count == 4 else { return .failure(.unknownFormat) }
            guard let salt = Base64.decode(fields[2]), let hash = Base64.decode(fields[3]) else {
                return .failure(.badBase64)
            }
            guard hash.count == 64 else { return .failure(.badHashLength) }
            return .success(.sha512(salt: salt, hash: hash))
        case "7":
            guard fields.count == 5 else { return .failure(.unknownFormat) }
            guard let iterations = Int(fields[2]), (1...maximumIterations).contains(iterations) else {
                return .failure(.badIterations)
            }
            guard let salt = Base64.decode(fields[3]), let hash = Base64.decode(fields[4]) else {
                return .failure(.badBase64)
            }
            guard hash.count == 64 else { return .failure(.badHashLength) }
            return .success(.pbkdf2SHA512(iterations: iterations, salt: salt, hash: hash))
        default:
            return .failure(.unknownFormat)
        }
    }

    public enum ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        case unknownFormat, badBase64, badHashLength, badIterations

        public var description: String {
            switch self {
            case .unknownFormat: return "not a $6$ or $7$ hash as mosquitto_passwd writes (plain-text passwords are not read)"
            case .badBase64: return "salt or hash is not valid base64"
            case .badHashLength: return "hash is not 64 bytes (SHA-512)"
            case .badIterations: return "iteration count must be 1...\(maximumIterations)"
            }
        }
    }

    /// Whether `password` hashes to this hash.
    public func verify(_ password: [UInt8]) -> Bool {
        var digest = [UInt8](repeating: 0, count: 64)
        let expected: [UInt8]
        switch self {
        case .sha512(let salt, let hash):
            expected = hash
            guard meridian_sha512(password, password.count, salt, salt.count, &digest) == 1 else { return false }
        case .pbkdf2SHA512(let iterations, let salt, let hash):
            expected = hash
            let ok = meridian_pbkdf2_sha512(
                password, password.count, salt, salt.count, Int32(iterations), &digest, digest.count)
            guard ok == 1 else { return false }
        }
        guard expected.count == digest.count else { return false }
        return meridian_memcmp(expected, digest, digest.count) == 0
    }
}
