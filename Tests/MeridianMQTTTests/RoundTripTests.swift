import MeridianMQTT
import NIOCore
import Testing

@Suite struct RoundTripTests {
    @Test(arguments: SamplePackets.v5)
    func mqtt5(_ packet: MQTTPacket) throws {
        #expect(try roundTrip(packet, version: .v5) == packet)
    }

    @Test(arguments: SamplePackets.v3_1_1)
    func mqtt311(_ packet: MQTTPacket) throws {
        #expect(try roundTrip(packet, version: .v3_1_1) == packet)
    }

    @Test func mqtt31Connect() throws {
        let bytes = encodedBytes(SamplePackets.v3_1Connect, version: .v3_1)
        #expect(bytes[2...9] == [0, 6, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70][...])  // "MQIsdp"
        #expect(bytes[10] == 3)
        var parser = MQTTPacketParser(role: .server)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try parser.next(from: &buffer) == SamplePackets.v3_1Connect)
        #expect(parser.protocolVersion == .v3_1)
        // After a 3.1 CONNECT the rest of the session is read like 3.1.1.
        for packet in SamplePackets.v3_1_1 where receivingRole(of: packet) == .server && packet.type != .connect {
            var buffer = encode(packet, version: .v3_1)
            #expect(try parser.next(from: &buffer) == packet)
        }
    }

    @Test func tryPrivateBridgeMarkerRoundTrips() throws {
        var connect = MQTTConnect(protocolVersion: .v3_1_1, cleanStart: false, keepAlive: 60, clientIdentifier: "edge.bridge")
        connect.isBridge = true
        let bytes = encodedBytes(.connect(connect), version: .v3_1_1)
        #expect(bytes[8] == 0x84)  // protocol level 4 with the bridge bit
        var parser = MQTTPacketParser(role: .server)
        var buffer = ByteBuffer(bytes: bytes)
        #expect(try parser.next(from: &buffer) == .connect(connect))
        #expect(parser.protocolVersion == .v3_1_1)

        var v5 = MQTTConnect(protocolVersion: .v5, cleanStart: true, keepAlive: 60, clientIdentifier: "c")
        v5.isBridge = true
        #expect(encodedBytes(.connect(v5), version: .v5)[8] == 5)  // MQTT 5 bridges use No Local instead
    }

    /// Every property, in every packet that allows it.
    @Test(arguments: MQTTPropertyIdentifier.allCases)
    func property(_ identifier: MQTTPropertyIdentifier) throws {
        let property = SamplePackets.sample(identifier)
        #expect(property.identifier == identifier)
        for context in SamplePackets.allContexts where identifier.allowedContexts.contains(context) {
            let packet = SamplePackets.packet(context, properties: [property])
            #expect(try roundTrip(packet, version: .v5, role: .client) == packet, "\(identifier) in \(context)")
        }
    }

    /// A server parser learns the version from CONNECT and then reads the session with it.
    @Test(arguments: [MQTTProtocolVersion.v3_1_1, .v5])
    func serverSession(version: MQTTProtocolVersion) throws {
        let packets = (version == .v5 ? SamplePackets.v5 : SamplePackets.v3_1_1).filter {
            receivingRole(of: $0) == .server && $0.type != .connect
        }
        let connect = (version == .v5 ? SamplePackets.v5 : SamplePackets.v3_1_1)[0]
        var buffer = ByteBuffer()
        for packet in [connect] + packets { packet.write(version: version, to: &buffer) }
        var parser = MQTTPacketParser(role: .server)
        var decoded: [MQTTPacket] = []
        while let packet = try parser.next(from: &buffer) { decoded.append(packet) }
        #expect(decoded == [connect] + packets)
        #expect(parser.protocolVersion == version)
        #expect(buffer.readableBytes == 0)
    }

    /// Fields 3.1.1 cannot carry are dropped; what remains decodes.
    @Test func mqtt5FieldsDroppedFor311() throws {
        let ack = MQTTPacket.puback(MQTTAck(packetIdentifier: 5, reasonCode: .quotaExceeded, properties: [.reasonString("x")]))
        #expect(encodedBytes(ack, version: .v3_1_1) == [0x40, 0x02, 0x00, 0x05])
        let disconnect = MQTTPacket.disconnect(MQTTDisconnect(reasonCode: .serverBusy, properties: [.reasonString("x")]))
        #expect(encodedBytes(disconnect, version: .v3_1_1) == [0xE0, 0x00])
        let unsuback = MQTTPacket.unsuback(MQTTUnsuback(packetIdentifier: 3, reasonCodes: [.success]))
        #expect(encodedBytes(unsuback, version: .v3_1_1) == [0xB0, 0x02, 0x00, 0x03])
        let suback = MQTTPacket.suback(MQTTSuback(packetIdentifier: 3, reasonCodes: [.grantedQoS1, .topicFilterInvalid]))
        #expect(encodedBytes(suback, version: .v3_1_1) == [0x90, 0x04, 0x00, 0x03, 0x01, 0x80])
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(string: "p"), properties: [.topicAlias(2)]))
        #expect(encodedBytes(publish, version: .v3_1_1) == [0x30, 0x04, 0x00, 0x01, 0x74, 0x70])
    }

    @Test func shortFormsInMQTT5() {
        #expect(encodedBytes(.puback(MQTTAck(packetIdentifier: 1)), version: .v5) == [0x40, 0x02, 0x00, 0x01])
        #expect(encodedBytes(.pubrel(MQTTAck(packetIdentifier: 1)), version: .v5) == [0x62, 0x02, 0x00, 0x01])
        #expect(
            encodedBytes(.pubrec(MQTTAck(packetIdentifier: 1, reasonCode: .unspecifiedError)), version: .v5)
                == [0x50, 0x03, 0x00, 0x01, 0x80]
        )
        #expect(encodedBytes(.disconnect(MQTTDisconnect()), version: .v5) == [0xE0, 0x00])
        #expect(encodedBytes(.disconnect(MQTTDisconnect(reasonCode: .serverBusy)), version: .v5) == [0xE0, 0x01, 0x89])
        #expect(encodedBytes(.auth(MQTTAuth()), version: .v5) == [0xF0, 0x00])
        #expect(encodedBytes(.pingreq, version: .v5) == [0xC0, 0x00])
        #expect(encodedBytes(.pingresp, version: .v3_1_1) == [0xD0, 0x00])
    }

    /// The long forms a peer may send for success decode to the same values as the short ones.
    @Test func longFormsDecode() throws {
        #expect(try decodeOne([0x40, 0x03, 0x00, 0x01, 0x00]) == .puback(MQTTAck(packetIdentifier: 1)))
        #expect(try decodeOne([0x40, 0x04, 0x00, 0x01, 0x00, 0x00]) == .puback(MQTTAck(packetIdentifier: 1)))
        #expect(try decodeOne([0xE0, 0x01, 0x00]) == .disconnect(MQTTDisconnect()))
        #expect(try decodeOne([0xE0, 0x02, 0x00, 0x00]) == .disconnect(MQTTDisconnect()))
        #expect(try decodeOne([0xF0, 0x02, 0x18, 0x00]) == .auth(MQTTAuth(reasonCode: .continueAuthentication)))
    }

    /// CONNECT from section 3.1 with known bytes (3.1.1, clean session, keep alive 60, id "a").
    @Test func knownConnectBytes() throws {
        let bytes: [UInt8] = [0x10, 0x0D, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x61]
        let connect = MQTTPacket.connect(MQTTConnect(protocolVersion: .v3_1_1, cleanStart: true, keepAlive: 60, clientIdentifier: "a"))
        #expect(encodedBytes(connect, version: .v3_1_1) == bytes)
        #expect(try decodeOne(bytes, role: .server, version: nil) == connect)
    }

    @Test func publishPayloadIsASliceOfTheInput() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "t", payload: ByteBuffer(repeating: 7, count: 1000)))
        var buffer = encode(publish, version: .v5)
        var parser = MQTTPacketParser(role: .server, protocolVersion: .v5)
        guard case .publish(let decoded) = try parser.next(from: &buffer) else {
            Issue.record("not a PUBLISH")
            return
        }
        let inputBase = buffer.withUnsafeReadableBytes { $0.baseAddress! } - 1000
        decoded.payload.withUnsafeReadableBytes { #expect($0.baseAddress! == inputBase) }
    }

    @Test func largePublishUsesFourByteRemainingLength() throws {
        let publish = MQTTPacket.publish(MQTTPublish(topic: "big", payload: ByteBuffer(repeating: 1, count: 2_097_152)))
        let buffer = encode(publish, version: .v3_1_1)
        #expect(buffer.getBytes(at: 1, length: 4) == [0x85, 0x80, 0x80, 0x01])
        #expect(try roundTrip(publish, version: .v3_1_1) == publish)
    }
}
