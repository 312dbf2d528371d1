/// FNV-1a, 32 bits: the same value in every process and on every node (Swift's `Hasher` is
/// seeded per process), for choices every node must make alike.
public enum StableHash {
    public static let offsetBasis: UInt32 = 2_166_136_261

    public static func fnv1a(_ bytes: some Sequence<UInt8>, from start: UInt32 = offsetBasis) -> UInt32 {
        bytes.reduce(start) { ($0 ^ UInt32($1)) &* 16_777_619 }
    }
}
