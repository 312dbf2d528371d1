import Foundation
import MeridianMQTT
import NIOCore
import MeridianTestSupport
import Testing

/// Byte-level mutations of valid packets: bit flips, byte changes, inserts, deletes,
/// length-field tampering, truncation and splicing with other seeds.
enum Mutator {
    static let interestingBytes: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x2B, 0x23, 0x2F, 0xC0, 0xED]

    static func mutate(_ input: [UInt8], corpus: [[UInt8]], rng: inout SplitMix64) -> [UInt8] {
        var bytes = input
        for _ in 0..<(1 + rng.below(4)) {
            switch rng.below(9) {
            case 0 where !bytes.isEmpty:  // bit flip
                bytes[rng.below(bytes.count)] ^= 1 << UInt8(rng.below(8))
            case 1 where !bytes.isEmpty:  // replace a byte
                bytes[rng.below(bytes.count)] = interestingBytes[rng.below(interestingBytes.count)]
            case 2:  // insert bytes
                let insert = (0..<(1 + rng.below(4))).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                bytes.insert(contentsOf: insert, at: rng.below(bytes.count + 1))
            case 3 where !bytes.isEmpty:  // delete a range
                let start = rng.below(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + rng.below(4)))
            case 4 where bytes.count > 1:  // tamper with the remaining length
                let newLength = [0, 1, 2, 0x7F, 0x80, 0xFF, Int(bytes[1]) + 1, max(0, Int(bytes[1]) - 1)][rng.below(8)]
                bytes[1] = UInt8(truncatingIfNeeded: newLength)
                if newLength >= 0x80 && rng.below(2) == 0 { bytes.insert(0x01, at: 2) }
            case 5 where bytes.count > 3:  // tamper with an inner length field (string, property length)
                let index = 2 + rng.below(bytes.count - 2)
                bytes[index] = [0x00, 0x01, 0x7F, 0x80, 0xFF, bytes[index] &+ 1, bytes[index] &- 1][rng.below(7)]
            case 6 where !bytes.isEmpty:  // truncate
                bytes.removeSubrange(rng.below(bytes.count)...)
            case 7:  // splice with another seed
                let other = corpus[rng.below(corpus.count)]
                bytes = Array(bytes.prefix(rng.below(bytes.count + 1))) + other.suffix(rng.below(other.count + 1))
            default:  // append another whole seed
                bytes += corpus[rng.below(corpus.count)]
            }
        }
        return bytes
    }
}

/// What a parser made of one input: the packets it returned, then how it stopped.
struct ParseOutcome: Equatable {
    enum End: Equatable {
        case needMoreBytes
        case error(MQTTCodecError.Code)
        /// `next` returned a packet without consuming bytes, or looped past the input size.
        case stuck
    }

    var packets: [MQTTPacket] = []
    /// The version each packet was decoded with (its own for CONNECT).
    var versions: [MQTTProtocolVersion] = []
    var end: End = .needMoreBytes
}

enum FuzzHarness {
    struct Configuration: CustomStringConvertible {
        var role: MQTTPacketParser.Role
        var version: MQTTProtocolVersion?
        var description: String { "\(role)/\(version.map { "\($0)" } ?? "nil")" }
    }

    static let configurations: [Configuration] = [
        .init(role: .server, version: nil), .init(role: .server, version: .v3_1_1), .init(role: .server, version: .v5),
        .init(role: .client, version: .v3_1_1), .init(role: .client, version: .v5),
    ]

    /// Feeds `chunks` one after the other, the way a channel delivers reads.
    static func parse(_ chunks: [ArraySlice<UInt8>], _ configuration: Configuration, maximumPacketSize: Int = 4096) -> ParseOutcome {
        var parser = MQTTPacketParser(
            role: configuration.role, protocolVersion: configuration.version, maximumPacketSize: maximumPacketSize
        )
        var outcome = ParseOutcome()
        var buffer = ByteBuffer()
        let totalBytes = chunks.reduce(0) { $0 + $1.count }
        var iterations = 0
        for chunk in chunks {
            buffer.writeBytes(chunk)
            while true {
                iterations += 1
                if iterations > totalBytes + chunks.count + 1 {
                    outcome.end = .stuck
                    return outcome
                }
                let before = buffer.readerIndex
                let version = parser.protocolVersion
                do {
                    guard let packet = try parser.next(from: &buffer) else {
                        if buffer.readerIndex != before { outcome.end = .stuck; return outcome }
                        break
                    }
                    guard buffer.readerIndex > before else {
                        outcome.end = .stuck
                        return outcome
                    }
                    outcome.packets.append(packet)
                    if case .connect(let connect) = packet {
                        outcome.versions.append(connect.protocolVersion)
                    } else if let version {
                        outcome.versions.append(version)
                    }
                } catch {
                    outcome.end = .error(error.code)
                    return outcome
                }
            }
        }
        outcome.end = .needMoreBytes
        return outcome
    }

    /// Checks one input: no crash, no stuck parser, chunked input gives the same result as
    /// whole input, and every packet re-encodes and re-decodes to itself. Returns a failure
    /// description, or nil.
    static func check(_ bytes: [UInt8], rng: inout SplitMix64) -> String? {
        for configuration in configurations {
            let whole = parse([bytes[...]], configuration)
            if whole.end == .stuck { return "parser stuck (\(configuration))" }
            if whole.packets.count != whole.versions.count { return "packet without a version (\(configuration))" }

            var cuts = (0..<rng.below(4)).map { _ in rng.below(bytes.count + 1) }.sorted()
            cuts = [0] + cuts + [bytes.count]
            let chunks = zip(cuts, cuts.dropFirst()).map { bytes[$0..<$1] }
            let chunked = parse(chunks, configuration)
            if chunked != whole { return "chunked input \(cuts) decodes differently (\(configuration))" }

            for (packet, version) in zip(whole.packets, whole.versions) {
                var encoded = ByteBuffer()
                packet.write(version: version, to: &encoded)
                var parser = MQTTPacketParser(
                    role: configuration.role,
                    protocolVersion: packet.type == .connect && configuration.role == .server ? nil : version
                )
                do {
                    let again = try parser.next(from: &encoded)
                    if again != packet || encoded.readableBytes != 0 {
                        return "re-encoded \(packet.type) decodes to \(String(describing: again)) (\(configuration))"
                    }
                } catch {
                    return "re-encoded \(packet.type) fails: \(error) (\(configuration))"
                }
            }
        }
        return nil
    }

    static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "0x%02X", $0) }.joined(separator: ", ")
    }
}
