import MeridianBridgeCore

/// A generator that returns the given values in turn, then repeats the last one.
struct ScriptedRandom: RandomNumberGenerator, Sendable {
    var values: [UInt64]
    var index = 0
    init(_ values: [UInt64]) { self.values = values.isEmpty ? [0] : values }
    mutating func next() -> UInt64 {
        defer { index = min(index + 1, values.count - 1) }
        return values[index]
    }
}
