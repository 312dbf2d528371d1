/// A violation found while decoding or validating a packet.
///
/// `reasonCode` is what an MQTT 5 server answers with (in CONNACK if the violation is in
/// CONNECT, otherwise in DISCONNECT); an MQTT 3.1.1 server just closes the connection.
public struct MQTTCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        case malformedPacket
        case protocolError
        case packetTooLarge
        case unsupportedProtocolVersion
        case clientIdentifierNotValid
        case topicNameInvalid
        case topicFilterInvalid
        case topicAliasInvalid
    }

    public var code: Code
    /// The packet type being decoded, when the fixed header was readable.
    public var packetType: MQTTPacketType?
    /// Human-readable detail for the log line; never sent to peers unless they requested problem information.
    public var detail: String

    public init(_ code: Code, _ detail: String, packetType: MQTTPacketType? = nil) {
        self.code = code
        self.detail = detail
        self.packetType = packetType
    }

    public var reasonCode: MQTTReasonCode {
        switch code {
        case .malformedPacket: return .malformedPacket
        case .protocolError: return .protocolError
        case .packetTooLarge: return .packetTooLarge
        case .unsupportedProtocolVersion: return .unsupportedProtocolVersion
        case .clientIdentifierNotValid: return .clientIdentifierNotValid
        case .topicNameInvalid: return .topicNameInvalid
        case .topicFilterInvalid: return .topicFilterInvalid
        case .topicAliasInvalid: return .topicAliasInvalid
        }
    }

    public var description: String { "\(code): \(detail)" }
}
