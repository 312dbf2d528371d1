/// The MQTT protocol level carried in CONNECT.
public enum MQTTProtocolVersion: UInt8, Sendable, Hashable, Comparable {
    /// MQTT 3.1 (protocol name `MQIsdp`), accepted for old devices.
    case v3_1 = 3
    /// MQTT 3.1.1.
    case v3_1_1 = 4
    /// MQTT 5.0.
    case v5 = 5

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Whether packets of this version carry properties and reason codes.
    @inlinable public var isV5: Bool { self == .v5 }
}
